// With the PostgreSQL source and password authentication the connection string is a Key Vault reference,
// resolved by the platform with the app's system-assigned identity. That identity may read the secrets of
// this one vault: a role on the vault, nothing on its resource group, no right to change or list its keys.
// Deployed into the vault's resource group, which may be another than the app's.

@description('The existing vault (Azure RBAC permission model) that holds the connection string secret.')
param keyVaultName string

@description('Object id of the Function App\'s system-assigned identity.')
param principalId string

// Built-in role definition id (the same in every tenant): read secret values, nothing else.
var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource secretsUserAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'Key Vault Secrets User'
  }
}
