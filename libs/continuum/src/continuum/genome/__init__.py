"""Genome layers: manifests and their signatures, layer references, the
safetensors header reader, the object-store buckets and the catalog fold."""

from continuum.genome.catalog import LayerCatalog, LayerRecord, Lineage
from continuum.genome.errors import LayerError, LayerNotFound
from continuum.genome.manifest import (
    build_manifest,
    canonical_bytes,
    creator_of,
    sha256_hex,
    sign_manifest,
    verify_manifest,
)
from continuum.genome.refs import parse_layer_ref, parse_layer_spec, split_ref
from continuum.genome.safetensors_format import TensorInfo, read_header

__all__ = [
    "LayerCatalog",
    "LayerError",
    "LayerNotFound",
    "LayerRecord",
    "Lineage",
    "TensorInfo",
    "build_manifest",
    "canonical_bytes",
    "creator_of",
    "parse_layer_ref",
    "parse_layer_spec",
    "read_header",
    "sha256_hex",
    "sign_manifest",
    "split_ref",
    "verify_manifest",
]
