"""First-stage rankers: BM25 with pyserini (Lucene), ColBERT with colbert-ai (PLAID), and existing run files."""
