# Discord's credentials: the secrets only. Their values are added with gcloud (README.md),
# so that they are never in Terraform's state.
locals {
  discord_secrets = toset(["DISCORD_PUBLIC_KEY", "DISCORD_TOKEN", "DISCORD_APPLICATION_ID"])
}

resource "google_secret_manager_secret" "discord" {
  for_each  = local.discord_secrets
  secret_id = each.key

  replication {
    auto {}
  }

  depends_on = [google_project_service.enabled]
}

# The workers' database URL, whole, since it holds the password. Terraform made the password,
# so this one value is in the state: keep the state where only the deployers can read it.
resource "google_secret_manager_secret" "database_url" {
  secret_id = "REGIS_DATABASE_URL"

  replication {
    auto {}
  }

  depends_on = [google_project_service.enabled]
}

resource "google_secret_manager_secret_version" "database_url" {
  secret      = google_secret_manager_secret.database_url.id
  secret_data = local.database_url
}
