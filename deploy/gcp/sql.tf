# The workers' shared state: PostgreSQL 15 on the smallest tier. The workers reach it through
# Cloud Run's Cloud SQL connection (a Unix socket under /cloudsql), so the instance has no
# authorized networks: its public IP takes only the Cloud SQL connector's IAM-checked traffic.

resource "random_password" "database" {
  length  = 32
  special = false
}

resource "google_sql_database_instance" "regis" {
  name                = "${var.name}-db"
  database_version    = "POSTGRES_15"
  region              = var.region
  deletion_protection = var.deletion_protection

  settings {
    tier              = "db-f1-micro"
    edition           = "ENTERPRISE"
    availability_type = "ZONAL"
    disk_size         = 10
    disk_autoresize   = true

    ip_configuration {
      ipv4_enabled = true
    }

    backup_configuration {
      enabled = true
    }

    # The tier's default is 25; each worker holds up to 12 (3 per plugin).
    database_flags {
      name  = "max_connections"
      value = "50"
    }
  }

  depends_on = [google_project_service.enabled]
}

resource "google_sql_database" "regis" {
  name     = "regis"
  instance = google_sql_database_instance.regis.name
}

resource "google_sql_user" "regis" {
  name     = "regis"
  instance = google_sql_database_instance.regis.name
  password = random_password.database.result

  # PostgreSQL refuses to drop a role that owns the bot's schemas: destroying the instance
  # removes it.
  deletion_policy = "ABANDON"
}

locals {
  database_url = "postgres://${google_sql_user.regis.name}:${random_password.database.result}@localhost/${google_sql_database.regis.name}?host=/cloudsql/${google_sql_database_instance.regis.connection_name}"
}
