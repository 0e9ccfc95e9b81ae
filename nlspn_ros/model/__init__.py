"""NLSPN (Park et al., ECCV 2020) in plain torch: official state_dict keys, fast propagation."""
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .config import NLSPNConfig
from .network import NLSPNModel

__all__ = ["CheckpointError", "NLSPNConfig", "NLSPNModel", "load_checkpoint", "save_checkpoint"]
