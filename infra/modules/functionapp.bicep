// The Function App: Linux, Python 3.11, Flex Consumption, a system-assigned identity, identity-based host
// storage, and App Service Authentication in front of every route.

param location string
param appName string
param planName string
param storageAccountName string
@description('Blob container URL the plan deploys the app package from.')
param packageContainerUrl string
param appInsightsConnectionString string

@description('Client (application) id of the Microsoft Entra app registration that issues the callers\' tokens.')
param authClientId string
param authTenantId string
param allowedAudiences array

@description('Routes App Service Authentication lets through without a token.')
param anonymousPaths array = [
  '/api/health'
  '/api/openapi.json'
]

@description('Most instances the app scales out to (Flex Consumption takes 40 to 1000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('EXPORTS_* app settings (name: value), from main.bicep.')
param exportSettings object

param tags object = {}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: zone redundancy of Flex Consumption is offered in a few regions only; turn it on with properties.zoneRedundant where the chosen region has it
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true // Linux
  }
}

// The Python worker runs every synchronous invocation (HTTP, queue and timer) on one thread pool of
// min(32, cores + 4) threads unless PYTHON_THREADPOOL_THREAD_COUNT is set, a handful on these instances.
// Each of the three queue triggers may hold batchSize + newBatchThreshold = 6 messages (host.json) and an
// export step runs up to two minutes, so without it HTTP requests, /api/health included, would wait behind
// busy workers. 24 = 3 x 6 queue invocations + 1 clean-up timer + 5 threads left for HTTP.
var baseSettings = {
  // Identity-based host storage: the account name only, no connection string, no key. The app's own
  // clients read the same setting and use DefaultAzureCredential (shared/storage/clients.py).
  AzureWebJobsStorage__accountName: storageAccountName
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
  // Local authentication is off on the component: the host and the app's OpenTelemetry exporter
  // (shared/telemetry.py) send with the identity's Entra token.
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD'
  // The host already sends every worker log line; the app's exporter sends traces and metrics, not a second copy.
  OTEL_LOGS_EXPORTER: 'none'
  PYTHON_THREADPOOL_THREAD_COUNT: '24'
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: the export API is called by browsers and other systems over the internet; every route but health and the contract needs an Entra token (authsettingsV2 below)
  // checkov:skip=CKV_AZURE_17: callers authenticate with Microsoft Entra tokens, not client certificates
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales from zero by design; always-ready instances cost money and no export needs one (work waits in the queue)
  // checkov:skip=CKV_AZURE_213: no App Service health check: Flex Consumption instances are created and recycled by the platform per execution load; GET /api/health (storage reachability) is there for an external availability test
  name: appName
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: packageContainerUrl
          authentication: {
            type: 'SystemAssignedIdentity'
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      remoteDebuggingEnabled: false
      appSettings: [for setting in items(union(baseSettings, exportSettings)): {
        name: setting.key
        value: setting.value
      }]
    }
  }
}

// No publishing passwords: deployments (azd, func) authenticate with Microsoft Entra.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'scm'
  properties: {
    allow: false
  }
}

// App Service Authentication: X-MS-CLIENT-PRINCIPAL is trustworthy only because the platform validates the
// token and sets the header itself (it drops any copy a client sends). Every route needs a signed-in caller,
// except the health probe and the API contract; an unauthenticated call is answered 401, never redirected.
resource auth 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov:skip=CKV_AZURE_13: this is authsettingsV2 (platform.enabled below); the check reads the retired v1 authsettings property 'enabled'
  // checkov:skip=CKV_AZURE_63: applies to the 'web' config resource, not to authsettingsV2; logs go to Application Insights
  // checkov:skip=CKV_AZURE_65: applies to the 'web' config resource, not to authsettingsV2
  // checkov:skip=CKV_AZURE_66: applies to the 'web' config resource, not to authsettingsV2
  // checkov:skip=CKV_AZURE_80: applies to the 'web' config resource; the app is Python, not .NET
  // checkov:skip=CKV_AZURE_88: applies to the 'web' config resource; Flex Consumption has no Azure Files content share (the package is in blob storage)
  // checkov:skip=CKV_AZURE_222: applies to the 'web' config resource; public access is a decision on the site (see there)
  parent: app
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'Return401'
      excludedPaths: anonymousPaths
    }
    httpSettings: {
      requireHttps: true
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: authClientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${authTenantId}/v2.0'
        }
        validation: {
          allowedAudiences: allowedAudiences
        }
      }
    }
    login: {
      tokenStore: {
        enabled: false
      }
    }
  }
}

output name string = app.name
output principalId string = app.identity.principalId
output defaultHostName string = app.properties.defaultHostName
