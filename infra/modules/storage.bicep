// The app's storage account: host storage (AzureWebJobsStorage), the job and source tables, the work queues,
// the exports container and the deployment package container. Microsoft Entra identities only.

@description('Azure region.')
param location string

@description('Storage account name: 3-24 lowercase letters and digits, globally unique.')
@minLength(3)
@maxLength(24)
param name string

@description('Replication. Export files live a week and can be requested again, so LRS is the default.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
param skuName string = 'Standard_LRS'

@description('Container of the export files (EXPORTS_EXPORTS_CONTAINER).')
param exportsContainerName string = 'exports'

@description('Container the Flex Consumption plan deploys the app package from.')
param packageContainerName string = 'app-package'

@description('Days after the last write of an export file (or sort run) when the lifecycle rule deletes it.')
@minValue(1)
param deleteExportsAfterDays int

param tags object = {}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_43: the name is a parameter (main.bicep passes 'st' + uniqueString(), 15 lowercase letters and digits); checkov cannot evaluate it
  // checkov:skip=CKV_AZURE_206: LRS by default on purpose (files live 7 days at most and can be exported again); skuName takes ZRS/GRS/GZRS
  // checkov:skip=CKV_AZURE_35: the Flex Consumption app reaches its storage over public endpoints unless VNet integration and private endpoints are added (not in this template); every request still needs a Microsoft Entra token, shared keys are off
  // checkov:skip=CKV_AZURE_59: same reason as CKV_AZURE_35: no private endpoints in this template, access is identity-only
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    // No account key, no account SAS: only Microsoft Entra identities. The Flex Consumption host supports
    // identity-based AzureWebJobsStorage, and download links are user delegation SAS.
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    publicNetworkAccess: 'Enabled'
    accessTier: 'Hot'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
        }
        file: {
          enabled: true
        }
        queue: {
          enabled: true
          keyType: 'Account'
        }
        table: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    // Seven days to undo an accidental delete of a package or an export before the lifecycle rule's time.
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
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

// A backstop for the clean-up timer: an export file the timer missed (app stopped, job record lost) is still
// deleted a few days after the longer of the two expiries (case files 7 days, ticket files 72 hours, by default).
// Sort runs live under the same container and go the same way.
resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'delete-expired-export-files'
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
                  daysAfterModificationGreaterThan: deleteExportsAfterDays
                }
              }
            }
          }
        }
      ]
    }
  }
}

output name string = storage.name
output id string = storage.id
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output packageContainerUrl string = '${storage.properties.primaryEndpoints.blob}${packageContainer.name}'
output exportsContainerName string = exportsContainer.name
