"""Site machinery: renders pages from results/. Knows nothing of machine learning."""
