"""Event types: one typed props model per type, and the entity types each may reference.

Shared by the client and the collector (`analytics.collect.registry` re-exports it); Optional, not `X | None`,
in the models: pydantic on Python 3.9 evaluates them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional, Union

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
    mediaType: Optional[Literal["image", "video", "audio", "document", "model"]] = None
    sizeBytes: Optional[int] = Field(default=None, ge=0, le=1 << 42)
    fileName: Optional[str] = Field(default=None, max_length=512)
    projectId: Optional[str] = Field(default=None, max_length=128)


class AssetViewedProps(Props):
    viewDurationMs: Optional[int] = Field(default=None, ge=0, le=86_400_000)
    position: Optional[int] = Field(default=None, ge=0)


class AssetDownloadedProps(Props):
    format: Optional[str] = Field(default=None, max_length=32)
    resolution: Optional[str] = Field(default=None, max_length=32)
    licenseId: Optional[str] = Field(default=None, max_length=128)


class AssetApprovedProps(Props):
    reviewerId: Optional[str] = Field(default=None, max_length=128)
    note: Optional[str] = Field(default=None, max_length=1024)


class LicenseCreatedProps(Props):
    licenseType: Literal["standard", "extended", "exclusive", "editorial"]
    priceCents: int = Field(ge=0, le=10**12)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    assetId: Optional[str] = Field(default=None, max_length=128)


class LicenseSignedProps(Props):
    signerId: Optional[str] = Field(default=None, max_length=128)
    signatureMethod: Optional[Literal["click", "esign", "wet"]] = None


class LicenseViewedProps(Props):
    viewDurationMs: Optional[int] = Field(default=None, ge=0, le=86_400_000)


class ProjectCreatedProps(Props):
    name: Optional[str] = Field(default=None, max_length=256)
    template: Optional[str] = Field(default=None, max_length=64)


class ProjectCompletedProps(Props):
    assetCount: Optional[int] = Field(default=None, ge=0)
    durationDays: Optional[float] = Field(default=None, ge=0)


class PayoutCompletedProps(Props):
    amountCents: int = Field(ge=0, le=10**12)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    method: Optional[Literal["bank_transfer", "paypal", "stripe", "wire"]] = None


class PayoutFailedProps(Props):
    amountCents: int = Field(ge=0, le=10**12)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    failureReason: str = Field(min_length=1, max_length=256)
    retryable: Optional[bool] = None


class UserLoginProps(Props):
    method: Optional[Literal["password", "sso", "oauth", "magic_link", "api_key"]] = None
    success: bool = True
    mfa: Optional[bool] = None


class UserProfileUpdatedProps(Props):
    fields: list[str] = Field(default_factory=list, max_length=50)


class SearchPerformedProps(Props):
    query: str = Field(max_length=512)
    resultsCount: Optional[int] = Field(default=None, ge=0)
    filters: Optional[dict[str, Optional[Union[str, int, float, bool]]]] = None


class CtaClickedProps(Props):
    ctaId: str = Field(min_length=1, max_length=128)
    label: Optional[str] = Field(default=None, max_length=256)
    location: Optional[str] = Field(default=None, max_length=256)


class PageViewedProps(Props):
    path: str = Field(min_length=1, max_length=2048)
    title: Optional[str] = Field(default=None, max_length=512)
    url: Optional[HttpUrl] = None


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
