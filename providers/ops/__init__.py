"""Running the product: encryption keys and secrets (crypto, keys), configuration
export/import (transfer), pruning history, health and heartbeats, metrics, the sandbox."""
