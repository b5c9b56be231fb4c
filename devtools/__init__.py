"""Development tools, not the product: the benchmark, tiny models, full-size architectures."""
