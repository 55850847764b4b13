"""Event types: one typed props model per type, and the entity types each may reference."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

ENTITY_TYPES = ("asset", "license", "project", "payout", "user")
# Where events come from; a deployment adds its own with ANALYTICS_EXTRA_SOURCES (Settings.sources).
SOURCES = ("web", "mobile", "api", "server", "segment", "backfill", "import")
EntityType = Literal["asset", "license", "project", "payout", "user"]

Short = Field(min_length=1, max_length=128)
Text = Field(max_length=1024)


class Props(BaseModel):
    """Base of every props model: extra keys are kept (bounded elsewhere), known keys are typed."""

    model_config = ConfigDict(extra="allow", str_max_length=2048)


class AssetUploadedProps(Props):
    mediaType: Literal["image", "video", "audio", "document", "model"] | None = None
    sizeBytes: int | None = Field(default=None, ge=0, le=1 << 42)
    fileName: str | None = Field(default=None, max_length=512)
    projectId: str | None = Field(default=None, max_length=128)


class AssetViewedProps(Props):
    viewDurationMs: int | None = Field(default=None, ge=0, le=86_400_000)
    position: int | None = Field(default=None, ge=0)


class AssetDownloadedProps(Props):
    format: str | None = Field(default=None, max_length=32)
    resolution: str | None = Field(default=None, max_length=32)
    licenseId: str | None = Field(default=None, max_length=128)


class AssetApprovedProps(Props):
    reviewerId: str | None = Field(default=None, max_length=128)
    note: str | None = Field(default=None, max_length=1024)


class LicenseCreatedProps(Props):
    licenseType: Literal["standard", "extended", "exclusive", "editorial"]
    priceCents: int = Field(ge=0, le=10**12)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    assetId: str | None = Field(default=None, max_length=128)


class LicenseSignedProps(Props):
    signerId: str | None = Field(default=None, max_length=128)
    signatureMethod: Literal["click", "esign", "wet"] | None = None


class LicenseViewedProps(Props):
    viewDurationMs: int | None = Field(default=None, ge=0, le=86_400_000)


class ProjectCreatedProps(Props):
    name: str | None = Field(default=None, max_length=256)
    template: str | None = Field(default=None, max_length=64)


class ProjectCompletedProps(Props):
    assetCount: int | None = Field(default=None, ge=0)
    durationDays: float | None = Field(default=None, ge=0)


class PayoutCompletedProps(Props):
    amountCents: int = Field(ge=0, le=10**12)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    method: Literal["bank_transfer", "paypal", "stripe", "wire"] | None = None


class PayoutFailedProps(Props):
    amountCents: int = Field(ge=0, le=10**12)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    failureReason: str = Field(min_length=1, max_length=256)
    retryable: bool | None = None


class UserLoginProps(Props):
    method: Literal["password", "sso", "oauth", "magic_link", "api_key"] | None = None
    success: bool = True
    mfa: bool | None = None


class UserProfileUpdatedProps(Props):
    fields: list[str] = Field(default_factory=list, max_length=50)


class SearchPerformedProps(Props):
    query: str = Field(max_length=512)
    resultsCount: int | None = Field(default=None, ge=0)
    filters: dict[str, str | int | float | bool | None] | None = None


class CtaClickedProps(Props):
    ctaId: str = Field(min_length=1, max_length=128)
    label: str | None = Field(default=None, max_length=256)
    location: str | None = Field(default=None, max_length=256)


class PageViewedProps(Props):
    path: str = Field(min_length=1, max_length=2048)
    title: str | None = Field(default=None, max_length=512)
    url: HttpUrl | None = None


@dataclass(frozen=True)
class EventType:
    name: str
    props: type[Props]
    entity_types: tuple[str, ...]  # () = this type references no entity
    entity_required: bool = False


def _spec(name: str, props: type[Props], *entities: str, required: bool = False) -> EventType:
    return EventType(name, props, tuple(entities), required)


EVENT_TYPES: dict[str, EventType] = {
    spec.name: spec
    for spec in (
        _spec("asset_uploaded", AssetUploadedProps, "asset", required=True),
        _spec("asset_viewed", AssetViewedProps, "asset", required=True),
        _spec("asset_downloaded", AssetDownloadedProps, "asset", required=True),
        _spec("asset_approved", AssetApprovedProps, "asset", required=True),
        _spec("license_created", LicenseCreatedProps, "license", required=True),
        _spec("license_signed", LicenseSignedProps, "license", required=True),
        _spec("license_viewed", LicenseViewedProps, "license", required=True),
        _spec("project_created", ProjectCreatedProps, "project", required=True),
        _spec("project_completed", ProjectCompletedProps, "project", required=True),
        _spec("payout_completed", PayoutCompletedProps, "payout", required=True),
        _spec("payout_failed", PayoutFailedProps, "payout", required=True),
        _spec("user_login", UserLoginProps, "user"),
        _spec("user_profile_updated", UserProfileUpdatedProps, "user"),
        _spec("search_performed", SearchPerformedProps, "asset", "project", "license"),
        _spec("cta_clicked", CtaClickedProps, *ENTITY_TYPES),
        _spec("page_viewed", PageViewedProps, *ENTITY_TYPES),
    )
}
