// Checks of main.bicep's parameters that no parameter decorator can state (one parameter required only with
// another's value). Bicep's fail() would state them in main.bicep, but the Bicep parser checkov uses cannot
// read it. Here each check is a parameter that allows only 'ok': main.bicep passes 'ok' or the reason, and
// ARM rejects any other value quoting it, which stops the deployment with that reason. No resources.

@description('ok, or what is wrong with the PostgreSQL source parameters of main.bicep.')
@allowed([
  'ok'
])
param postgres string
