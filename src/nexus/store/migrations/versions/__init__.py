"""The migrations, one module per revision; each stands alone (see the layer contract)."""
