// The export service in Azure, in one resource group: a Linux Python 3.11 Function App on the Flex
// Consumption plan with a system-assigned managed identity, its storage account (private containers, HTTPS
// and TLS 1.2 only, no shared keys, a lifecycle backstop for expired files), Application Insights on a Log
// Analytics workspace, the identity's least data roles, and App Service Authentication on every route.
//
// `azd up` deploys it (azure.yaml at the repository root). Not compiled here (no az / bicep CLI on the build
// machine): tests/unit/test_infra.py parses it and checks the settings, and `make lint` runs checkov.

targetScope = 'subscription'

@description('azd environment name; names the resource group and seeds the resource names.')
@minLength(1)
@maxLength(40)
param environmentName string

@description('Azure region; Flex Consumption must be offered there.')
param location string

@description('Function App name (global DNS name: <name>.azurewebsites.net). Default: derived from the environment.')
@maxLength(60)
param appName string = ''

@description('Client (application) id of the Microsoft Entra app registration that issues the callers\' tokens.')
@minLength(36)
@maxLength(36)
param authClientId string

@description('Tenant of that app registration.')
param authTenantId string = tenant().tenantId

@description('Audiences a token may carry; by default the app registration\'s Application ID URI and client id.')
param allowedAudiences array = []

@description('NCRONTAB (seconds first) of the clean-up timer.')
param cleanupSchedule string = '0 0 * * * *'

@description('Validity of a download link in minutes (1-60).')
@minValue(1)
@maxValue(60)
param downloadLinkMinutes int = 15

@description('Hours a case export file stays downloadable after the job ends (EXPORTS_CASE_EXPIRY_HOURS; 168 = 7 days).')
@minValue(1)
@maxValue(8760)
param caseExpiryHours int = 168

@description('Hours a ticket export file stays downloadable after the job ends (EXPORTS_TICKET_EXPIRY_HOURS).')
@minValue(1)
@maxValue(8760)
param ticketExpiryHours int = 72

@description('The lifecycle rule deletes export files this many days after their expiry, behind the clean-up timer.')
@minValue(1)
@maxValue(30)
param lifecycleGraceDays int = 3

@description('Storage replication.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
param storageSku string = 'Standard_LRS'

@description('Most instances the plan may scale out to (Flex Consumption takes 40 to 1000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

// The lifecycle rule counts whole days from a file's last write: the longer retention, rounded up, so it
// never deletes a file of either dataset before its expiry (ticket files expire sooner; the timer takes them).
var longestExpiryDays = (max(caseExpiryHours, ticketExpiryHours) + 23) / 24

var tags = {
  'azd-env-name': environmentName
}
var token = toLower(uniqueString(subscription().id, environmentName, location))
var functionAppName = empty(appName) ? 'func-exports-${token}' : appName
var audiences = empty(allowedAudiences) ? [
  'api://${authClientId}'
  authClientId
] : allowedAudiences

// Settings the app reads (shared/settings.py); the storage and telemetry ones are set by the module.
var exportSettings = {
  EXPORTS_CLEANUP_SCHEDULE: cleanupSchedule
  EXPORTS_DOWNLOAD_LINK_MINUTES: string(downloadLinkMinutes)
  EXPORTS_CASE_EXPIRY_HOURS: string(caseExpiryHours)
  EXPORTS_TICKET_EXPIRY_HOURS: string(ticketExpiryHours)
  EXPORTS_EXPORTS_CONTAINER: 'exports'
}

resource group 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: group
  params: {
    location: location
    workspaceName: 'log-${token}'
    appInsightsName: 'appi-${token}'
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: group
  params: {
    location: location
    name: 'st${token}'
    skuName: storageSku
    exportsContainerName: 'exports'
    deleteExportsAfterDays: longestExpiryDays + lifecycleGraceDays
    tags: tags
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: group
  params: {
    location: location
    appName: functionAppName
    planName: 'plan-${token}'
    storageAccountName: storage.outputs.name
    packageContainerUrl: storage.outputs.packageContainerUrl
    appInsightsConnectionString: monitoring.outputs.connectionString
    authClientId: authClientId
    authTenantId: authTenantId
    allowedAudiences: audiences
    maximumInstanceCount: maximumInstanceCount
    exportSettings: exportSettings
    // azd finds the app to deploy the 'api' service of azure.yaml to by this tag.
    tags: union(tags, {
      'azd-service-name': 'api'
    })
  }
}

module roles 'modules/roles.bicep' = {
  name: 'roles'
  scope: group
  params: {
    storageAccountName: storage.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
    principalId: functionApp.outputs.principalId
  }
}

output AZURE_LOCATION string = location
output AZURE_RESOURCE_GROUP string = group.name
output FUNCTION_APP_NAME string = functionApp.outputs.name
output API_BASE_URL string = 'https://${functionApp.outputs.defaultHostName}/api'
output STORAGE_ACCOUNT_NAME string = storage.outputs.name
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.appInsightsName
output FUNCTION_APP_PRINCIPAL_ID string = functionApp.outputs.principalId
