"""recognize: text (OCR), labels and layout of an image, as one structured result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from genserve.tasks.base import Inputs, JobResult, MediaInput, TaskSpec


class RecognizeParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    top_k: int = Field(
        5, title="Top labels", ge=1, le=100, description="How many labels to return per image."
    )
    ocr: bool = Field(True, title="OCR", description="Read the text in the image.")
    labels: bool = Field(True, title="Labels", description="Name what the image shows (top-k labels).")
    min_score: float = Field(
        0.0,
        title="Minimum score",
        ge=0.0,
        le=1.0,
        description="Drop text and labels scored below this (0-1).",
    )
    document: bool = Field(
        True,
        title="Document",
        description="Read the page as a document: layout regions (the layout model when installed), "
        "type, key fields, line items and tables.",
    )


@dataclass
class RecognizeInputs(Inputs):
    images: list[Image.Image] = field(default_factory=list)

    @property
    def image(self) -> Image.Image:
        return self.images[0]


class RecognizeResult(JobResult):
    image_path: str | None = Field(None, description="The uploaded file's name (never a server path)")
    text_blocks: list[dict[str, Any]] = Field(default_factory=list)
    objects: list[dict[str, Any]] = Field(default_factory=list)
    layout: dict[str, Any] = Field(default_factory=dict)
    document: dict[str, Any] = Field(
        default_factory=dict,
        description="The page as a document: type (with score and evidence), fields, items, checks, tables",
    )
    items: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Per image of a batch of two or more: image_path, text_blocks, objects, layout "
        "(empty for one image, whose fields are the top level's)",
    )


SPEC = TaskSpec(
    name="recognize",
    title="Recognize",
    description="Read the text, name the objects and describe the layout of an image.",
    params_model=RecognizeParams,
    inputs_type=RecognizeInputs,
    inputs=(
        MediaInput(
            "image",
            "image",
            description="The image to recognize (several for a batch)",
            multiple=True,
            field="images",
        ),
    ),
    default_backends=("rapidocr",),
    output="json",
    view="document",
    presets={
        "Fast": {"labels": False, "top_k": 3},
        "Standard": {},
        "High quality": {"top_k": 10},
    },
    result_model=RecognizeResult,
)
