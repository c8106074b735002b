"""First-stage rankers: BM25 with pyserini (Lucene)."""
