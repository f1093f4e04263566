"""The names of every analytics event the backend may send.

Each constant is `[Noun][Verb][Subverb]` in PascalCase and its value is the string that Segment and
every downstream warehouse sees. The strings are carried over unchanged from the original Go
package: production data already uses them, so a string is never renamed here, even where lint
reports it (see `analytics.lint.EXCEPTIONS` for the documented ones).

Adding an event takes two steps: a constant here, then its track spec in `analytics.tracks`.
`event-catalog lint` fails while either half is missing.
"""

from enum import StrEnum, unique


@unique
class SegmentEvent(StrEnum):
    """Every event name, grouped as in the original package."""

    # Onboarding
    UserCreate = "New User"
    UserVerifyEmail = "User Verified Email"
    ProjectCreate = "New Project Event"
    ProjectConnect = "Project Connected to Sandbox"
    ProjectDelete = "Project Deleted"
    ClusterDelete = "Cluster Deleted"
    CostConsentOpened = "Cost Consent Opened"
    CostConsentComplete = "Cost Consent Complete"
    CredentialStepComplete = "Credential Step Complete"
    PreProvisionCheck = "Pre Provision Check Started"
    AWSInputted = "AWS Account ID Inputted"
    AWSCloudformationRedirect = "AWS Cloudformation Redirect"
    AWSLoginRedirect = "AWS Login Redirect"
    AWSCreateIntegrationSuccess = "AWS Create Integration Success"
    AWSCreateIntegrationFailure = "AWS Create Integration Failure"
    QuotaIncreaseRequested = "AWS Quota Increase Requested"
    ProvisioningAttempted = "Provisioning Attempted"
    ProvisioningFailure = "Provisioning Failure"

    # Provisioning and connections
    ClusterProvisioningStart = "Cluster Provisioning Started"
    ClusterProvisioningError = "Cluster Provisioning Error"
    ClusterProvisioningSuccess = "Cluster Provisioning Success"
    RegistryProvisioningStart = "Registry Provisioning Started"
    RegistryProvisioningError = "Registry Provisioning Error"
    RegistryProvisioningSuccess = "Registry Provisioning Success"
    ClusterConnectionStart = "Cluster Connection Started"
    ClusterConnectionSuccess = "Cluster Connection Success"
    RegistryConnectionStart = "Registry Connection Started"
    RegistryConnectionSuccess = "Registry Connection Success"
    GithubConnectionStart = "Github Connection Started"
    GithubConnectionSuccess = "Github Connection Success"

    # Launch flow
    ApplicationLaunchStart = "Application Launch Started"
    ApplicationLaunchSuccess = "Application Launch Success"
    ApplicationDeploymentWebhook = "Triggered Re-deploy via Webhook"

    # Delete events
    ClusterDestroyingStart = "Cluster Destroying Start"
    ClusterDestroyingSuccess = "Cluster Destroying Success"

    # Apps
    StackLaunchStart = "Stack Launch Started"
    StackLaunchComplete = "Stack Launch Complete"
    StackLaunchSuccess = "Stack Launch Success"
    StackLaunchFailure = "Stack Launch Failure"
    StackDeletion = "Stack Deletion"
    StackBuildProgressing = "Stack Build Progressing"
    StackBuildFailure = "Stack Build Failure"
    StackBuildSuccess = "Stack Build Success"
    PorterAppUpdateFailure = "Porter App Update Failure"

    # New infrastructure flow
    CloudProviderPermissionsGranted = "Cloud Provider Permissions Granted"
    ClusterPreflightChecksFailed = "Cluster Preflight Checks Failed"
    ClusterUpdateFailed = "Cluster Update Failed"
