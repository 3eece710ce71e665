// The Function App identity's roles: data-plane roles on the storage account, and publishing telemetry.
// Nothing at subscription or resource-group scope, no control-plane role, no key-listing right.

param storageAccountName string
param appInsightsName string

@description('Object id of the Function App\'s system-assigned identity.')
param principalId string

// Built-in role definition ids (the same in every tenant).
var storageRoles = [
  {
    // Host storage (blob leases of the timer's singleton lock, host keys container), the deployment package,
    // the export files and sort runs. Also grants generateUserDelegationKey.
    name: 'Storage Blob Data Contributor'
    id: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  }
  {
    // The right to make user delegation keys, named on its own: download links are user delegation SAS, and
    // this keeps them working if blob access is ever narrowed to single containers.
    name: 'Storage Blob Delegator'
    id: 'db58b8e5-c6ad-4a2a-8342-4190687cbf4a'
  }
  {
    // export-requests / export-work and their poison queues: the triggers read, the service sends.
    name: 'Storage Queue Data Contributor'
    id: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  }
  {
    // Job records, idempotency keys, tag configuration and the source tables.
    name: 'Storage Table Data Contributor'
    id: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  }
]

var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource storageRoleAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in storageRoles: {
    name: guid(storage.id, principalId, role.id)
    scope: storage
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.id)
      principalId: principalId
      principalType: 'ServicePrincipal'
      description: role.name
    }
  }
]

resource telemetryRoleAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, principalId, monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'Monitoring Metrics Publisher'
  }
}
