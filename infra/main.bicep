// The export service in Azure, in one resource group: a Linux Python 3.11 Function App on the Flex
// Consumption plan with a system-assigned managed identity, its storage account (private containers, HTTPS
// and TLS 1.2 only, no shared keys, a lifecycle backstop for expired files), Application Insights on a Log
// Analytics workspace, the identity's least data roles, and App Service Authentication on every route.
// Exports read Table storage, or a PostgreSQL database (exportsSource) with the identity's Entra token or a
// connection string kept in Key Vault; no parameter and no app setting ever holds a password.
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

// The PostgreSQL source (shared/settings.py, EXPORTS_SOURCE and EXPORTS_POSTGRES_*). No parameter takes a
// password or a connection string holding one: with `entra` there is none, with `password` the app setting is
// a Key Vault reference and the platform reads the secret with the app's identity.

@description('Where exports read their rows (EXPORTS_SOURCE): the Table storage tables, or a PostgreSQL database offering the export views (sql/export_views.sql).')
@allowed([
  'tables'
  'postgres'
])
param exportsSource string = 'tables'

@description('How the app signs in to PostgreSQL (EXPORTS_POSTGRES_AUTH): entra, a Microsoft Entra token of the app\'s system-assigned identity as the password (nothing stored); password, a connection string kept in Key Vault (postgresConnectionSecretUri).')
@allowed([
  'entra'
  'password'
])
param postgresAuth string = 'entra'

@description('With entra: the server\'s host name, e.g. myserver.postgres.database.azure.com.')
param postgresHost string = ''

@description('With entra: the database that holds the export views.')
param postgresDatabase string = ''

@description('With entra: the name of the Microsoft Entra principal the server knows the app\'s identity by (the server admin runs SELECT * FROM pgaadauth_create_principal(\'<name>\', false, false); and grants SELECT on the export views). Default: the Function App name, the display name of its system-assigned identity.')
param postgresUser string = ''

@description('With password: URI of the Key Vault secret holding the whole libpq connection string, e.g. https://myvault.vault.azure.net/secrets/exports-postgres/ (no version: the latest is read). The app setting is @Microsoft.KeyVault(SecretUri=<this>).')
param postgresConnectionSecretUri string = ''

@description('With password: name of the existing vault (Azure RBAC permission model) that holds that secret; the app\'s identity gets Key Vault Secrets User on this vault only.')
param keyVaultName string = ''

@description('With password: resource group of that vault, in this subscription. Default: the app\'s resource group.')
param keyVaultResourceGroup string = ''

@description('Schema that holds the export views (EXPORTS_POSTGRES_SCHEMA): lowercase letters, digits and underscores, not starting with a digit, as the app accepts.')
@minLength(1)
@maxLength(63)
param postgresSchema string = 'public'

@description('Longest one statement of an export may run, in seconds (EXPORTS_POSTGRES_STATEMENT_TIMEOUT_SECONDS, 1-600).')
@minValue(1)
@maxValue(600)
param postgresStatementTimeoutSeconds int = 60

@description('Connections one worker process keeps open at most (EXPORTS_POSTGRES_POOL_MAX, 1-50); the server sees up to instances x this many.')
@minValue(1)
@maxValue(50)
param postgresPoolMax int = 4

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
  EXPORTS_SOURCE: exportsSource
}

var usesPostgres = (exportsSource == 'postgres')
var usesEntra = usesPostgres && (postgresAuth == 'entra')
var usesKeyVault = usesPostgres && (postgresAuth == 'password')
var postgresPrincipal = empty(postgresUser) ? functionAppName : postgresUser
var postgresNames = '${postgresHost}${postgresDatabase}${postgresPrincipal}'
var secretUriPrefix = toLower('https://${keyVaultName}${environment().suffixes.keyvaultDns}/secrets/')
// With Entra the connection names the server, database and role only: the password is the identity's token.
var postgresEntraUrl = 'host=${postgresHost} port=5432 dbname=${postgresDatabase} user=${postgresPrincipal} sslmode=require'
// With a password the whole connection string stays in Key Vault: the platform resolves the reference.
var postgresSecretReference = '@Microsoft.KeyVault(SecretUri=${postgresConnectionSecretUri})'

var entraServerMissing = usesEntra && (empty(postgresHost) || empty(postgresDatabase))
// Unquoted libpq values end at a space, and a quote or backslash in one needs escaping (spelled %27 and %5C
// here: the Bicep parser checkov uses cannot read an escaped quote).
var entraNamesNotPlain = usesEntra && (contains(postgresNames, ' ') || contains(postgresNames, uriComponentToString('%27')) || contains(postgresNames, uriComponentToString('%5C')))
var secretOutsideVault = usesKeyVault && !(startsWith(toLower(postgresConnectionSecretUri), secretUriPrefix) && (length(postgresConnectionSecretUri) > length(secretUriPrefix)))

// Deployment-time checks. Bicep's fail() would state them, but the Bicep parser checkov uses cannot read it:
// the checks module allows only 'ok' for its parameter, ARM rejects any other value quoting it, and the
// Function App waits for the module, so a mistake stops the deployment with its reason before the app holds
// a setting that cannot work. Each message interpolates a parameter, which makes its type a plain string
// rather than a literal the module's @allowed would reject when compiling. The Table source never trips one.
var postgresProblem = entraServerMissing ? 'exportsSource postgres with postgresAuth entra needs postgresHost and postgresDatabase (host: ${postgresHost}, database: ${postgresDatabase})' : (entraNamesNotPlain ? 'postgresHost, postgresDatabase and postgresUser must hold no space, quote or backslash (host: ${postgresHost}, database: ${postgresDatabase}, user: ${postgresPrincipal})' : (secretOutsideVault ? 'exportsSource postgres with postgresAuth password needs postgresConnectionSecretUri, a secret of the vault keyVaultName (${keyVaultName}): https://${keyVaultName}${environment().suffixes.keyvaultDns}/secrets/<name>; given: ${postgresConnectionSecretUri}' : 'ok'))

// Set only with the PostgreSQL source: the Table source leaves every EXPORTS_POSTGRES_* setting out.
var postgresSettings = usesPostgres ? {
  EXPORTS_POSTGRES_AUTH: postgresAuth
  EXPORTS_POSTGRES_URL: (postgresAuth == 'entra') ? postgresEntraUrl : postgresSecretReference
  EXPORTS_POSTGRES_SCHEMA: postgresSchema
  EXPORTS_POSTGRES_STATEMENT_TIMEOUT_SECONDS: string(postgresStatementTimeoutSeconds)
  EXPORTS_POSTGRES_POOL_MAX: string(postgresPoolMax)
} : {}

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

module checks 'modules/checks.bicep' = {
  name: 'checks'
  scope: group
  params: {
    postgres: postgresProblem
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: group
  dependsOn: [
    checks
  ]
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
    exportSettings: union(exportSettings, postgresSettings)
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

module keyVaultAccess 'modules/keyvaultaccess.bicep' = if (usesKeyVault) {
  name: 'keyvaultaccess'
  scope: resourceGroup(empty(keyVaultResourceGroup) ? group.name : keyVaultResourceGroup)
  params: {
    keyVaultName: keyVaultName
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
// The role name the PostgreSQL admin creates for the app with Entra authentication ('' otherwise).
output POSTGRES_ENTRA_PRINCIPAL string = usesEntra ? postgresPrincipal : ''
