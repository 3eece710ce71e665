// The export service in Azure: a Linux Python 3.11 Function App (Flex Consumption) with a system-assigned
// managed identity, its storage account (private containers, HTTPS and TLS 1.2 only, no shared keys), the
// identity's data roles on that account, and App Service Authentication in front of every route.
//
// Not compiled here (no az / bicep CLI on the build machine): see README.md in this folder.

targetScope = 'resourceGroup'

@description('Azure region; Flex Consumption must be offered there.')
param location string = resourceGroup().location

@description('Function App name (global DNS name: <name>.azurewebsites.net).')
@minLength(2)
@maxLength(60)
param appName string

@description('Client (application) id of the Microsoft Entra app registration that issues the callers\' tokens.')
param authClientId string

@description('Tenant of that app registration.')
param authTenantId string = tenant().tenantId

@description('Audiences a token may carry; by default the app registration\'s Application ID URI and client id.')
param allowedAudiences array = [
  'api://${authClientId}'
  authClientId
]

@description('NCRONTAB (seconds first) of the clean-up timer.')
param cleanupSchedule string = '0 0 * * * *'

@description('Validity of a download link in minutes (1-60).')
@minValue(1)
@maxValue(60)
param downloadLinkMinutes int = 15

@description('Export files older than this many days are deleted by a lifecycle rule as a backstop to the timer.')
param lifecycleDeleteAfterDays int = 8

var storageName = 'stexp${uniqueString(resourceGroup().id, appName)}'
var exportsContainerName = 'exports'
var packageContainerName = 'app-package'

// Built-in role definition ids.
var storageRoles = {
  // The host storage (AzureWebJobsStorage) and the export files. Owner, as the Functions docs ask for an
  // identity-based AzureWebJobsStorage (blob leases for the timer's singleton lock, the deployment package).
  blobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  // Issues the user delegation key the download links are signed with (generateUserDelegationKey).
  blobDelegator: 'db58b8e5-c6ad-4a2a-8342-4190687cbf4a'
  // export-requests / export-work queues and their poison queues.
  queueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  // Job records, idempotency keys, tags, and the source tables.
  tableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: storageName
  location: location
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    // Only Microsoft Entra identities: no account key, no account SAS. Download links are user delegation SAS.
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    accessTier: 'Hot'
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource exportsContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: exportsContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource packageContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: packageContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'delete-old-export-files'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                '${exportsContainerName}/'
              ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: lifecycleDeleteAfterDays
                }
              }
            }
          }
        }
      ]
    }
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: '${appName}-plan'
  location: location
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true // Linux
  }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: appName
  location: location
  kind: 'functionapp,linux'
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${packageContainerName}'
          authentication: {
            type: 'SystemAssignedIdentity'
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: 40
        instanceMemoryMB: 2048
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: [
        // Identity-based host storage: the account name only, no connection string, no key.
        {
          name: 'AzureWebJobsStorage__accountName'
          value: storage.name
        }
        {
          name: 'EXPORTS_CLEANUP_SCHEDULE'
          value: cleanupSchedule
        }
        {
          name: 'EXPORTS_DOWNLOAD_LINK_MINUTES'
          value: string(downloadLinkMinutes)
        }
        {
          name: 'EXPORTS_EXPORTS_CONTAINER'
          value: exportsContainerName
        }
      ]
    }
  }
}

resource roleAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in items(storageRoles): {
    name: guid(storage.id, app.id, role.value)
    scope: storage
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.value)
      principalId: app.identity.principalId
      principalType: 'ServicePrincipal'
    }
  }
]

// App Service Authentication: X-MS-CLIENT-PRINCIPAL is trustworthy only because the platform validates the
// token and sets the header itself (it drops any copy a client sends). Every route needs a signed-in caller,
// except the health probe and the API contract.
resource auth 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: app
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'Return401'
      excludedPaths: [
        '/api/health'
        '/api/openapi.json'
      ]
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

output functionAppName string = app.name
output apiBaseUrl string = 'https://${app.properties.defaultHostName}/api'
output storageAccountName string = storage.name
output principalId string = app.identity.principalId
