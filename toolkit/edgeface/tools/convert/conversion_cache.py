"""The conversion cache: a key over everything a conversion depends on, and the cached variants that match it.

A converted variant is reused when its .tflite and manifest are in the store, the manifest names
the same key and the file's sha256, and the float head it names (if any) is there too.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Optional

from edgeface.hub import store
from edgeface.hub.atomic import sha256_file
from edgeface.tools.convert.job import ConvertedVariant
from edgeface.tools.convert.options import ConvertOptions
from edgeface.tools.convert.variant_manifest import converter_versions


def cache_key(src_sha: str, ref_sha: str, opts: ConvertOptions, cal_digest: Optional[str], kind: str,
              percentile: Optional[float]) -> str:
    """16 hex digits over the ONNX digests, the options, the calibration digest and onnx2tf's version."""
    payload = {"src": src_sha, "ref": ref_sha, "int8": opts.int8, "iqd": opts.input_dtype,
               "float_head": bool(opts.float_head and kind == "regressor"),
               "oqd": opts.output_dtype, "cal": cal_digest, "onnx2tf": converter_versions()["onnx2tf"], "format": 2}
    if percentile is not None:  # only then: min-max models keep their keys
        payload["percentile"] = percentile
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def cached_variants(name: str, variants: list, key: str, root: Path) -> Optional[list]:
    """[ConvertedVariant] for every requested variant when all are cached under `key`, else None."""
    hits = []
    for v in variants:
        p = store.model_path(name, v, root)
        mp = p.with_suffix(".json")
        if not (p.is_file() and mp.is_file()):
            return None
        man = json.loads(mp.read_text())
        if man.get("cache_key") != key or man.get("sha256") != sha256_file(p):
            return None
        head = man.get("float_head")
        if head and not (p.parent / head["file"]).is_file():
            return None
        hits.append(ConvertedVariant(v, p, man))
    return hits
