"""One typed track spec per event: its scope, its own properties, and what it means.

The first docstring line is the description product managers read in the catalog. Where the
original Go package spelled out an event's scope and properties they are carried over as they were;
where it did not, the docstring says "Scope and properties chosen by the catalog" and why, so that a
reader knows which parts are inherited and which were decided here.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Any

from analytics.events import SegmentEvent
from analytics.scopes import MAX_ID, ApplicationScope, ClusterScope, ProjectScope, RegistryScope, UserScope
from analytics.spec import Category, Status, Team, TrackSpec, prop


class ClusterKind(StrEnum):
    """Managed Kubernetes offerings a cluster can be provisioned on."""

    EKS = "eks"
    GKE = "gke"
    AKS = "aks"
    DOKS = "doks"


class RegistryKind(StrEnum):
    """Managed container registries a registry can be provisioned on."""

    ECR = "ecr"
    GCR = "gcr"
    ACR = "acr"
    DOCR = "docr"


class CloudProvider(StrEnum):
    """Cloud accounts a project can connect."""

    AWS = "aws"
    GCP = "gcp"
    AZURE = "azure"
    DIGITALOCEAN = "digitalocean"


def _email() -> Any:
    return prop("Email address the user signed up with.", example="ada@example.com", personal_data=True)


def _infra_id() -> Any:
    return prop(
        "Id of the infrastructure record that tracks the provisioning run.", example=9, gt=0, le=MAX_ID
    )


def _flow_id() -> Any:
    return prop(
        "Random id shared by the start and success events of one flow.", example="f3c1a9e2", min_length=1
    )


def _cluster_type() -> Any:
    return prop("Kind of managed Kubernetes cluster.", example=ClusterKind.EKS)


def _registry_type() -> Any:
    return prop("Kind of managed container registry.", example=RegistryKind.ECR)


def _cloud_provider() -> Any:
    return prop("Cloud provider the project is connecting.", example=CloudProvider.AWS)


def _aws_account_id() -> Any:
    # [0-9], not \d: the pattern is checked with Unicode classes, where \d takes any script's digits.
    return prop("The 12-digit AWS account id.", example="123456789012", pattern=r"^[0-9]{12}$")


def _error_message() -> Any:
    return prop("Error shown to the user, as text.", example="quota exceeded for vCPUs", min_length=1)


def _stack_name() -> Any:
    return prop("Name of the application stack.", example="billing-api", min_length=1)


# Onboarding


class UserCreate(TrackSpec, event=SegmentEvent.UserCreate, category=Category.ONBOARDING, owner=Team.GROWTH):
    """A person signed up and their user account was created."""

    scope: UserScope
    email: str = _email()


class UserVerifyEmail(
    TrackSpec, event=SegmentEvent.UserVerifyEmail, category=Category.ONBOARDING, owner=Team.GROWTH
):
    """A user confirmed their email address through the verification link."""

    scope: UserScope
    email: str = _email()


class ProjectCreate(
    TrackSpec, event=SegmentEvent.ProjectCreate, category=Category.ONBOARDING, owner=Team.GROWTH
):
    """A user created a new project."""

    scope: ProjectScope


class ProjectConnect(
    TrackSpec, event=SegmentEvent.ProjectConnect, category=Category.ONBOARDING, owner=Team.GROWTH
):
    """A project was connected to the sandbox environment.

    Scope and properties chosen by the catalog: the source only names the event; it is about a
    project, so it carries the project scope and nothing else.
    """

    scope: ProjectScope


class ProjectDelete(
    TrackSpec,
    event=SegmentEvent.ProjectDelete,
    category=Category.ONBOARDING,
    owner=Team.GROWTH,
    stale_after=timedelta(days=90),
):
    """A user deleted a project.

    Scope and properties chosen by the catalog: the project scope, whose id is what analysts join on.
    """

    scope: ProjectScope


class ClusterDelete(
    TrackSpec,
    event=SegmentEvent.ClusterDelete,
    category=Category.ONBOARDING,
    owner=Team.INFRASTRUCTURE,
    stale_after=timedelta(days=90),
):
    """A user removed a cluster from a project.

    Scope and properties chosen by the catalog: the cluster scope, since the cluster still exists
    when the deletion is requested.
    """

    scope: ClusterScope


class CostConsentOpened(
    TrackSpec, event=SegmentEvent.CostConsentOpened, category=Category.ONBOARDING, owner=Team.GROWTH
):
    """A user opened the dialog that explains the cloud costs of provisioning.

    Scope and properties chosen by the catalog: the project scope and the cloud provider, because
    the costs shown depend on it.
    """

    scope: ProjectScope
    cloud_provider: CloudProvider = _cloud_provider()


class CostConsentComplete(
    TrackSpec, event=SegmentEvent.CostConsentComplete, category=Category.ONBOARDING, owner=Team.GROWTH
):
    """A user accepted the cloud costs of provisioning.

    Scope and properties chosen by the catalog: as for "Cost Consent Opened", so the two can be
    joined into a funnel.
    """

    scope: ProjectScope
    cloud_provider: CloudProvider = _cloud_provider()


class CredentialStepComplete(
    TrackSpec, event=SegmentEvent.CredentialStepComplete, category=Category.ONBOARDING, owner=Team.GROWTH
):
    """A user finished entering cloud credentials during onboarding.

    Scope and properties chosen by the catalog: the project scope and the provider whose
    credentials were entered.
    """

    scope: ProjectScope
    cloud_provider: CloudProvider = _cloud_provider()


class PreProvisionCheck(
    TrackSpec, event=SegmentEvent.PreProvisionCheck, category=Category.ONBOARDING, owner=Team.INFRASTRUCTURE
):
    """The checks that run before provisioning (quotas, permissions) started.

    Scope and properties chosen by the catalog: the project scope and the provider being checked;
    no cluster exists yet.
    """

    scope: ProjectScope
    cloud_provider: CloudProvider = _cloud_provider()


class AWSInputted(TrackSpec, event=SegmentEvent.AWSInputted, category=Category.ONBOARDING, owner=Team.GROWTH):
    """A user typed in the AWS account id to connect.

    Scope and properties chosen by the catalog: the project scope and the account id, which is
    what later AWS events are matched on.
    """

    scope: ProjectScope
    aws_account_id: str = _aws_account_id()


class AWSCloudformationRedirect(
    TrackSpec, event=SegmentEvent.AWSCloudformationRedirect, category=Category.ONBOARDING, owner=Team.GROWTH
):
    """A user was sent to AWS CloudFormation to create the integration's IAM role.

    Scope and properties chosen by the catalog: the project scope and the AWS account id.
    """

    scope: ProjectScope
    aws_account_id: str = _aws_account_id()


class AWSLoginRedirect(
    TrackSpec, event=SegmentEvent.AWSLoginRedirect, category=Category.ONBOARDING, owner=Team.GROWTH
):
    """A user was sent to the AWS console to sign in.

    Scope and properties chosen by the catalog: the project scope only; the account is not known
    before the user signs in.
    """

    scope: ProjectScope


class AWSCreateIntegrationSuccess(
    TrackSpec, event=SegmentEvent.AWSCreateIntegrationSuccess, category=Category.ONBOARDING, owner=Team.GROWTH
):
    """The AWS integration was created and the account can be used for provisioning.

    Scope and properties chosen by the catalog: the project scope and the AWS account id.
    """

    scope: ProjectScope
    aws_account_id: str = _aws_account_id()


class AWSCreateIntegrationFailure(
    TrackSpec,
    event=SegmentEvent.AWSCreateIntegrationFailure,
    category=Category.ONBOARDING,
    owner=Team.GROWTH,
    stale_after=timedelta(days=90),
):
    """Creating the AWS integration failed.

    Scope and properties chosen by the catalog: the project scope, the AWS account id and the error
    the user saw, so failures can be grouped by cause.
    """

    scope: ProjectScope
    aws_account_id: str = _aws_account_id()
    error_message: str = _error_message()


class QuotaIncreaseRequested(
    TrackSpec,
    event=SegmentEvent.QuotaIncreaseRequested,
    category=Category.ONBOARDING,
    owner=Team.INFRASTRUCTURE,
    stale_after=timedelta(days=90),
):
    """A user asked AWS for a higher service quota so provisioning can go ahead.

    Scope and properties chosen by the catalog: the project scope, the AWS account id and the
    region the quota applies to.
    """

    scope: ProjectScope
    aws_account_id: str = _aws_account_id()
    region: str = prop("Cloud region the quota applies to.", example="us-east-1", min_length=1)


class ProvisioningAttempted(
    TrackSpec,
    event=SegmentEvent.ProvisioningAttempted,
    category=Category.ONBOARDING,
    owner=Team.INFRASTRUCTURE,
):
    """A user started provisioning infrastructure at the end of onboarding.

    Scope and properties chosen by the catalog: the project scope and the cloud provider.
    """

    scope: ProjectScope
    cloud_provider: CloudProvider = _cloud_provider()


class ProvisioningFailure(
    TrackSpec,
    event=SegmentEvent.ProvisioningFailure,
    category=Category.ONBOARDING,
    owner=Team.INFRASTRUCTURE,
    stale_after=timedelta(days=90),
):
    """Provisioning started during onboarding failed.

    Scope and properties chosen by the catalog: the project scope, the cloud provider and the error
    the user saw.
    """

    scope: ProjectScope
    cloud_provider: CloudProvider = _cloud_provider()
    error_message: str = _error_message()


# Provisioning and connections


class ClusterProvisioningStart(
    TrackSpec,
    event=SegmentEvent.ClusterProvisioningStart,
    category=Category.PROVISIONING,
    owner=Team.INFRASTRUCTURE,
):
    """Provisioning of a new cluster started (the cluster does not exist yet)."""

    scope: ProjectScope
    cluster_type: ClusterKind = _cluster_type()
    infra_id: int = _infra_id()


class ClusterProvisioningError(
    TrackSpec,
    event=SegmentEvent.ClusterProvisioningError,
    category=Category.PROVISIONING,
    owner=Team.INFRASTRUCTURE,
):
    """Provisioning of a new cluster failed before the cluster was ready."""

    scope: ProjectScope
    cluster_type: ClusterKind = _cluster_type()
    infra_id: int = _infra_id()


class ClusterProvisioningSuccess(
    TrackSpec,
    event=SegmentEvent.ClusterProvisioningSuccess,
    category=Category.PROVISIONING,
    owner=Team.INFRASTRUCTURE,
):
    """A new cluster finished provisioning and is ready to use."""

    scope: ClusterScope
    cluster_type: ClusterKind = _cluster_type()
    infra_id: int = _infra_id()


class RegistryProvisioningStart(
    TrackSpec,
    event=SegmentEvent.RegistryProvisioningStart,
    category=Category.PROVISIONING,
    owner=Team.INFRASTRUCTURE,
):
    """Provisioning of a new container registry started (the registry does not exist yet)."""

    scope: ProjectScope
    registry_type: RegistryKind = _registry_type()
    infra_id: int = _infra_id()


class RegistryProvisioningError(
    TrackSpec,
    event=SegmentEvent.RegistryProvisioningError,
    category=Category.PROVISIONING,
    owner=Team.INFRASTRUCTURE,
):
    """Provisioning of a new container registry failed."""

    scope: ProjectScope
    registry_type: RegistryKind = _registry_type()
    infra_id: int = _infra_id()


class RegistryProvisioningSuccess(
    TrackSpec,
    event=SegmentEvent.RegistryProvisioningSuccess,
    category=Category.PROVISIONING,
    owner=Team.INFRASTRUCTURE,
):
    """A new container registry finished provisioning and is ready to use."""

    scope: RegistryScope
    registry_type: RegistryKind = _registry_type()
    infra_id: int = _infra_id()


class ClusterConnectionStart(
    TrackSpec,
    event=SegmentEvent.ClusterConnectionStart,
    category=Category.PROVISIONING,
    owner=Team.INFRASTRUCTURE,
):
    """A user started connecting an existing cluster to a project."""

    scope: ProjectScope
    cc_id: int = prop("Id of the cluster candidate being connected.", example=31, gt=0, le=MAX_ID)


class ClusterConnectionSuccess(
    TrackSpec,
    event=SegmentEvent.ClusterConnectionSuccess,
    category=Category.PROVISIONING,
    owner=Team.INFRASTRUCTURE,
):
    """An existing cluster was connected to a project."""

    scope: ClusterScope
    cc_id: int = prop("Id of the cluster candidate that was connected.", example=31, gt=0, le=MAX_ID)


class RegistryConnectionStart(
    TrackSpec,
    event=SegmentEvent.RegistryConnectionStart,
    category=Category.PROVISIONING,
    owner=Team.INFRASTRUCTURE,
):
    """A user started connecting an existing container registry to a project."""

    scope: ProjectScope
    flow_id: str = _flow_id()


class RegistryConnectionSuccess(
    TrackSpec,
    event=SegmentEvent.RegistryConnectionSuccess,
    category=Category.PROVISIONING,
    owner=Team.INFRASTRUCTURE,
):
    """An existing container registry was connected to a project."""

    scope: RegistryScope
    flow_id: str = _flow_id()


class GithubConnectionStart(
    TrackSpec,
    event=SegmentEvent.GithubConnectionStart,
    category=Category.PROVISIONING,
    owner=Team.APPLICATIONS,
):
    """A user started connecting their GitHub account (GitHub repositories belong to the user)."""

    scope: UserScope


class GithubConnectionSuccess(
    TrackSpec,
    event=SegmentEvent.GithubConnectionSuccess,
    category=Category.PROVISIONING,
    owner=Team.APPLICATIONS,
):
    """A user connected their GitHub account."""

    scope: UserScope


# Launch flow


class ApplicationLaunchStart(
    TrackSpec, event=SegmentEvent.ApplicationLaunchStart, category=Category.LAUNCH, owner=Team.APPLICATIONS
):
    """A user started launching an application on a cluster."""

    scope: ClusterScope
    flow_id: str = _flow_id()


class ApplicationLaunchSuccess(
    TrackSpec, event=SegmentEvent.ApplicationLaunchSuccess, category=Category.LAUNCH, owner=Team.APPLICATIONS
):
    """An application was launched on a cluster."""

    scope: ApplicationScope
    flow_id: str = _flow_id()


class ApplicationDeploymentWebhook(
    TrackSpec,
    event=SegmentEvent.ApplicationDeploymentWebhook,
    category=Category.LAUNCH,
    owner=Team.APPLICATIONS,
    stale_after=timedelta(days=60),
):
    """A webhook (usually from CI) re-deployed an application with a new image."""

    scope: ApplicationScope
    image_uri: str = prop(
        "Container image the application was re-deployed with.",
        example="123456789012.dkr.ecr.us-east-1.amazonaws.com/web:3f2a1c",
        min_length=1,
    )


# Delete events


class ClusterDestroyingStart(
    TrackSpec,
    event=SegmentEvent.ClusterDestroyingStart,
    category=Category.DELETION,
    owner=Team.INFRASTRUCTURE,
    stale_after=timedelta(days=90),
):
    """Tearing down a cluster's cloud resources started.

    Scope and properties chosen by the catalog: the cluster scope, since the cluster exists until
    the teardown succeeds.
    """

    scope: ClusterScope


class ClusterDestroyingSuccess(
    TrackSpec,
    event=SegmentEvent.ClusterDestroyingSuccess,
    category=Category.DELETION,
    owner=Team.INFRASTRUCTURE,
    stale_after=timedelta(days=90),
):
    """A cluster's cloud resources were torn down.

    Scope and properties chosen by the catalog: the cluster scope, so it pairs with "Cluster
    Destroying Start".
    """

    scope: ClusterScope


# Apps


class StackLaunchStart(
    TrackSpec, event=SegmentEvent.StackLaunchStart, category=Category.APPS, owner=Team.APPLICATIONS
):
    """A user started launching an application stack.

    Scope and properties chosen by the catalog: the cluster scope and the stack's name, since a
    stack is deployed to one cluster.
    """

    scope: ClusterScope
    stack_name: str = _stack_name()


class StackLaunchComplete(
    TrackSpec,
    event=SegmentEvent.StackLaunchComplete,
    category=Category.APPS,
    owner=Team.APPLICATIONS,
    status=Status.DEPRECATED,
    replaced_by=SegmentEvent.StackLaunchSuccess,
    stale_after=timedelta(days=365),
):
    """A stack launch finished; it says the same as "Stack Launch Success", which replaces it.

    Scope and properties chosen by the catalog: the cluster scope and the stack's name. Deprecated
    because two events for one outcome split every funnel in two; it stays in the catalog while
    older data carries it.
    """

    scope: ClusterScope
    stack_name: str = _stack_name()


class StackLaunchSuccess(
    TrackSpec, event=SegmentEvent.StackLaunchSuccess, category=Category.APPS, owner=Team.APPLICATIONS
):
    """An application stack was launched and is running.

    Scope and properties chosen by the catalog: the cluster scope and the stack's name.
    """

    scope: ClusterScope
    stack_name: str = _stack_name()


class StackLaunchFailure(
    TrackSpec, event=SegmentEvent.StackLaunchFailure, category=Category.APPS, owner=Team.APPLICATIONS
):
    """Launching an application stack failed.

    Scope and properties chosen by the catalog: the cluster scope, the stack's name and the error.
    """

    scope: ClusterScope
    stack_name: str = _stack_name()
    error_message: str = _error_message()


class StackDeletion(
    TrackSpec, event=SegmentEvent.StackDeletion, category=Category.APPS, owner=Team.APPLICATIONS
):
    """A user deleted an application stack.

    Scope and properties chosen by the catalog: the cluster scope and the stack's name.
    """

    scope: ClusterScope
    stack_name: str = _stack_name()


class StackBuildProgressing(
    TrackSpec, event=SegmentEvent.StackBuildProgressing, category=Category.APPS, owner=Team.APPLICATIONS
):
    """A stack's container image build is running.

    Scope and properties chosen by the catalog: the cluster scope and the stack's name.
    """

    scope: ClusterScope
    stack_name: str = _stack_name()


class StackBuildFailure(
    TrackSpec, event=SegmentEvent.StackBuildFailure, category=Category.APPS, owner=Team.APPLICATIONS
):
    """A stack's container image build failed.

    Scope and properties chosen by the catalog: the cluster scope, the stack's name and the error.
    """

    scope: ClusterScope
    stack_name: str = _stack_name()
    error_message: str = _error_message()


class StackBuildSuccess(
    TrackSpec, event=SegmentEvent.StackBuildSuccess, category=Category.APPS, owner=Team.APPLICATIONS
):
    """A stack's container image was built.

    Scope and properties chosen by the catalog: the cluster scope and the stack's name.
    """

    scope: ClusterScope
    stack_name: str = _stack_name()


class PorterAppUpdateFailure(
    TrackSpec,
    event=SegmentEvent.PorterAppUpdateFailure,
    category=Category.APPS,
    owner=Team.APPLICATIONS,
    stale_after=timedelta(days=90),
):
    """Updating a running application stack failed.

    Scope and properties chosen by the catalog: the cluster scope, the stack's name and the error.
    """

    scope: ClusterScope
    stack_name: str = _stack_name()
    error_message: str = _error_message()


# New infrastructure flow


class CloudProviderPermissionsGranted(
    TrackSpec,
    event=SegmentEvent.CloudProviderPermissionsGranted,
    category=Category.INFRASTRUCTURE,
    owner=Team.INFRASTRUCTURE,
):
    """A user granted the permissions needed to provision in their cloud account.

    Scope and properties chosen by the catalog: the project scope and the cloud provider.
    """

    scope: ProjectScope
    cloud_provider: CloudProvider = _cloud_provider()


class ClusterPreflightChecksFailed(
    TrackSpec,
    event=SegmentEvent.ClusterPreflightChecksFailed,
    category=Category.INFRASTRUCTURE,
    owner=Team.INFRASTRUCTURE,
    stale_after=timedelta(days=90),
):
    """The checks run before creating a cluster failed, so provisioning did not start.

    Scope and properties chosen by the catalog: the project scope (no cluster exists yet), the
    cloud provider and the names of the checks that failed.
    """

    scope: ProjectScope
    cloud_provider: CloudProvider = _cloud_provider()
    failed_checks: list[str] = prop(
        "Names of the checks that failed.", example=["vcpu_quota", "iam_permissions"], min_length=1
    )


class ClusterUpdateFailed(
    TrackSpec,
    event=SegmentEvent.ClusterUpdateFailed,
    category=Category.INFRASTRUCTURE,
    owner=Team.INFRASTRUCTURE,
    stale_after=timedelta(days=90),
):
    """Applying a change to an existing cluster failed.

    Scope and properties chosen by the catalog: the cluster scope and the error.
    """

    scope: ClusterScope
    error_message: str = _error_message()
