"""Model zoo: architectures, weights, preprocessing and layer names."""
