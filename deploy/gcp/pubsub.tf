# The queue, with the names Regis gives it for queue_url pubsub://PROJECT/NAME: the topic
# NAME, the dead letters NAME-dead (kept by the pull subscription NAME-dead-letters) and the
# workers' push subscription NAME-workers. Regis would create them if they were missing; here
# its accounts may not, and it takes them as made (an existing subscription is kept as it is).

# ack_deadline_seconds: how long Pub/Sub waits for a push's answer; the worker holds a push as
# long (its queue_ack_wait, REGIS_QUEUE_ACK_WAIT) before answering 503.
locals {
  queue_url            = "pubsub://${var.project}/${var.name}"
  pubsub_service_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
  ack_deadline_seconds = 60
}

resource "google_pubsub_topic" "envelopes" {
  name = var.name

  depends_on = [google_project_service.enabled]
}

resource "google_pubsub_topic" "dead" {
  name = "${var.name}-dead"

  depends_on = [google_project_service.enabled]
}

# Pub/Sub POSTs each envelope to the worker's /pubsub/push with an OIDC token of the pusher
# service account for the audience of the push URL; the worker checks both
# (REGIS_PUBSUB_PUSH_ENDPOINT, REGIS_PUBSUB_PUSH_SERVICE_ACCOUNT) and holds the request while
# the envelope is handled: 204 acknowledges it, 503 has it pushed again.
resource "google_pubsub_subscription" "workers" {
  name                 = "${var.name}-workers"
  topic                = google_pubsub_topic.envelopes.id
  ack_deadline_seconds = local.ack_deadline_seconds

  push_config {
    push_endpoint = local.push_endpoint

    oidc_token {
      service_account_email = google_service_account.pusher.email
      audience              = local.push_endpoint
    }
  }

  # Regis dead-letters an envelope itself, with its reason, on its queue_max_deliver-th
  # delivery (5 by default); the policy is one delivery later, as Regis creates it, and
  # catches a worker that died on that last delivery.
  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead.id
    max_delivery_attempts = 6
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  # Never deleted for inactivity (the default is after 31 quiet days).
  expiration_policy {
    ttl = ""
  }

  lifecycle {
    precondition {
      condition     = var.worker_url != "" || length("${var.name}-worker-${data.google_project.this.number}") <= 63
      error_message = "The worker's deterministic URL would be longer than a DNS label allows: set worker_url (see README.md)."
    }
  }

  # Pushes start once the pusher may invoke the worker and the service agent may sign its
  # tokens and forward dead letters.
  depends_on = [
    google_cloud_run_v2_service_iam_member.pusher_invokes_worker,
    google_service_account_iam_member.pubsub_signs_for_pusher,
    google_pubsub_topic_iam_member.pubsub_forwards_dead_letters,
  ]
}

resource "google_pubsub_subscription" "dead_letters" {
  name                       = "${var.name}-dead-letters"
  topic                      = google_pubsub_topic.dead.id
  message_retention_duration = "604800s"

  expiration_policy {
    ttl = ""
  }
}
