# The image repository and the two Cloud Run services.
#
# Pub/Sub has no request-reply: the receiver answers every command "deferred" (type 5) at once
# and publishes it; a worker, pushed the envelope, edits that answer.
#
# The worker's URL. The worker must know its own push URL (the audience of the pushes' OIDC
# token), which a resource cannot read from itself. Cloud Run gives every service whose name
# and project number fit in a DNS label a deterministic URL,
# https://SERVICE-PROJECT_NUMBER.REGION.run.app, besides its hashed one: both the worker's
# REGIS_PUBSUB_PUSH_ENDPOINT and the subscription's push endpoint use it, so one apply is
# enough. Where that URL is not assigned, set var.worker_url to the output worker_service_uri
# and apply again (README.md).

locals {
  worker_url    = var.worker_url != "" ? trimsuffix(var.worker_url, "/") : "https://${var.name}-worker-${data.google_project.this.number}.${var.region}.run.app"
  push_endpoint = "${local.worker_url}/pubsub/push"
}

resource "google_artifact_registry_repository" "images" {
  repository_id = var.name
  location      = var.region
  format        = "DOCKER"
  description   = "Regis images"

  depends_on = [google_project_service.enabled]
}

resource "google_cloud_run_v2_service" "receiver" {
  name                = "${var.name}-receiver"
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_ALL"
  deletion_protection = false

  template {
    service_account                  = google_service_account.receiver.email
    max_instance_request_concurrency = 80
    timeout                          = "10s"

    scaling {
      min_instance_count = 0
      max_instance_count = var.receiver_max_instances
    }

    containers {
      image = var.image
      args  = ["serve", "--role", "receiver"]

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = "1"
          memory = "256Mi"
        }
        cpu_idle          = true
        startup_cpu_boost = true
      }

      env {
        name  = "REGIS_QUEUE_URL"
        value = local.queue_url
      }
      env {
        name  = "REGIS_HTTP_ADDR"
        value = "0.0.0.0:8080"
      }
      env {
        name  = "REGIS_LOG_FORMAT"
        value = "json"
      }
      env {
        name  = "REGIS_BOT_NAME"
        value = var.name
      }
      env {
        name = "DISCORD_PUBLIC_KEY"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.discord["DISCORD_PUBLIC_KEY"].secret_id
            version = "latest"
          }
        }
      }

      startup_probe {
        http_get {
          path = "/healthz"
        }
      }
    }
  }

  depends_on = [
    google_secret_manager_secret_iam_member.receiver_public_key,
    google_pubsub_topic_iam_member.receiver_publishes,
  ]
}

resource "google_cloud_run_v2_service" "worker" {
  name                = "${var.name}-worker"
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_ALL"
  deletion_protection = false

  template {
    service_account                  = google_service_account.worker.email
    max_instance_request_concurrency = 8
    timeout                          = "600s"

    scaling {
      min_instance_count = 0
      max_instance_count = var.worker_max_instances
    }

    volumes {
      name = "cloudsql"
      cloud_sql_instance {
        instances = [google_sql_database_instance.regis.connection_name]
      }
    }

    containers {
      image = var.image
      args  = ["serve", "--role", "worker"]

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = "1"
          memory = "512Mi"
        }
        cpu_idle          = true
        startup_cpu_boost = true
      }

      volume_mounts {
        name       = "cloudsql"
        mount_path = "/cloudsql"
      }

      env {
        name  = "REGIS_QUEUE_URL"
        value = local.queue_url
      }
      env {
        name  = "REGIS_HTTP_ADDR"
        value = "0.0.0.0:8080"
      }
      env {
        name  = "REGIS_LOG_FORMAT"
        value = "json"
      }
      env {
        name  = "REGIS_BOT_NAME"
        value = var.name
      }
      env {
        name  = "REGIS_QUEUE_ACK_WAIT"
        value = "${local.ack_deadline_seconds}s"
      }
      env {
        name  = "REGIS_PUBSUB_PUSH_ENDPOINT"
        value = local.push_endpoint
      }
      env {
        name  = "REGIS_PUBSUB_PUSH_SERVICE_ACCOUNT"
        value = google_service_account.pusher.email
      }
      env {
        name  = "REGIS_OBJECT_STORE_URL"
        value = "gs://${google_storage_bucket.mandalas.name}"
      }
      env {
        name  = "REGIS_PUBLIC_BASE_URL"
        value = "https://storage.googleapis.com/${google_storage_bucket.mandalas.name}"
      }
      env {
        name = "REGIS_DATABASE_URL"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.database_url.secret_id
            version = "latest"
          }
        }
      }
      env {
        name = "DISCORD_TOKEN"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.discord["DISCORD_TOKEN"].secret_id
            version = "latest"
          }
        }
      }
      env {
        name = "DISCORD_APPLICATION_ID"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.discord["DISCORD_APPLICATION_ID"].secret_id
            version = "latest"
          }
        }
      }
      env {
        name = "DISCORD_PUBLIC_KEY"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.discord["DISCORD_PUBLIC_KEY"].secret_id
            version = "latest"
          }
        }
      }

      startup_probe {
        http_get {
          path = "/healthz"
        }
      }
    }
  }

  depends_on = [
    google_secret_manager_secret_iam_member.worker_discord,
    google_secret_manager_secret_iam_member.worker_database_url,
    google_secret_manager_secret_version.database_url,
    google_project_iam_member.worker_cloudsql,
    google_sql_database.regis,
    google_sql_user.regis,
  ]
}
