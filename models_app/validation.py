"""Model-document rules beyond the JSON Schema. Each rule checks the types it relies on (the document may have
failed the schema) and adds every problem it finds to the report."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from kernel.rules.validation import DocumentValidator, Report, pointer
from models_app.artifacts.upload import FILENAME_RE
from models_app.lineage.rules import RULES as LINEAGE_RULES
from models_app.models.model import is_checksum_placeholder

GIB = 1024**3
# vLLM's own default, used when a document leaves gpu_memory_utilization out (tensor_parallel_size defaults to 1).
VLLM_DEFAULT_GPU_MEMORY_UTILIZATION = 0.9


def _number(value) -> float | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def artifact_size_within_limit(document: dict, report: Report) -> None:
    artifact = document.get("artifact")
    size = _number(artifact.get("size_bytes")) if isinstance(artifact, dict) else None
    limit = settings.MODEL_ARTIFACT_MAX_BYTES
    if size is not None and size >= limit:
        report.error(
            "/artifact/size_bytes",
            "too_large",
            f"Artifacts must be smaller than {limit:,} bytes (MODEL_ARTIFACT_MAX_BYTES); got {int(size):,}.",
        )


def declared_file_names_valid(document: dict, report: Report) -> None:
    artifact = document.get("artifact")
    files = artifact.get("files") if isinstance(artifact, dict) else None
    if not isinstance(files, dict):
        return
    for name in files:
        if not FILENAME_RE.fullmatch(name) or ".." in name:
            report.error(
                pointer("artifact", "files", name),
                "invalid_filename",
                "A file name is 1-255 characters of A-Z, a-z, 0-9, '.', '_' or '-', starting with a letter or digit, without '..'.",
            )


def runtime_fits_requirements(document: dict, report: Report) -> None:
    """vLLM loads the weights split across tensor-parallel GPUs and may use only ``gpu_memory_utilization`` of
    each GPU: if that need exceeds what the requirements promise, the model will not start where it is placed."""
    runtime, requirements, artifact = (document.get(k) for k in ("runtime", "requirements", "artifact"))
    if not (isinstance(runtime, dict) and isinstance(artifact, dict) and runtime.get("type") == "vllm"):
        return
    size = _number(artifact.get("size_bytes"))
    utilization = _number(runtime.get("gpu_memory_utilization", VLLM_DEFAULT_GPU_MEMORY_UTILIZATION))
    parallel = runtime.get("tensor_parallel_size", 1)
    if not size or size <= 0 or not utilization or not isinstance(parallel, int) or parallel < 1 or utilization <= 0:
        return
    need_gb = size / parallel / utilization / GIB
    promised = _number(requirements.get("min_gpu_memory_gb")) if isinstance(requirements, dict) else None
    if promised is None:
        report.warn(
            "/requirements/min_gpu_memory_gb",
            "missing_requirement",
            f"The weights need about {need_gb:.1f} GB of GPU memory per GPU; state it in requirements.min_gpu_memory_gb.",
        )
    elif need_gb > promised:
        report.warn(
            "/requirements/min_gpu_memory_gb",
            "insufficient_gpu_memory",
            f"The weights need about {need_gb:.1f} GB per GPU at gpu_memory_utilization={utilization} and "
            f"tensor_parallel_size={parallel}, more than min_gpu_memory_gb={promised}.",
        )


def checksum_is_known(document: dict, report: Report) -> None:
    """The specification's examples carry placeholders such as ``sha256:...`` or ``sha256:abc123...``; they
    register as written, but nothing can be verified against them, so say so."""
    artifact = document.get("artifact")
    if isinstance(artifact, dict) and is_checksum_placeholder(artifact.get("checksum")):
        report.warn(
            "/artifact/checksum",
            "checksum_placeholder",
            f"'{artifact['checksum']}' is a placeholder: the artifact cannot be verified until a version with its real digest is registered.",
        )


model_validator = DocumentValidator(
    "model",
    Path(__file__).parent / "schemas" / "model.json",
    rules=[
        artifact_size_within_limit,
        runtime_fits_requirements,
        checksum_is_known,
        declared_file_names_valid,
        *LINEAGE_RULES,
    ],
)
