# One service account per part, each allowed what it uses and no more.
#
# receiver: publishes to the topic; reads DISCORD_PUBLIC_KEY (Cloud Run reads a secret
#   environment variable as the service's account).
# worker:   publishes to the topic (its own timers) and the dead letters, reads the dead
#   letters, reads its four secrets, connects to Cloud SQL, creates objects in the bucket.
# pusher:   the identity of Pub/Sub's pushes; may invoke the worker, nothing else.

resource "google_service_account" "receiver" {
  account_id   = "${var.name}-receiver"
  display_name = "Regis receiver (${var.name})"

  depends_on = [google_project_service.enabled]
}

resource "google_service_account" "worker" {
  account_id   = "${var.name}-worker"
  display_name = "Regis worker (${var.name})"

  depends_on = [google_project_service.enabled]
}

resource "google_service_account" "pusher" {
  account_id   = "${var.name}-pusher"
  display_name = "Pub/Sub pushes to the Regis worker (${var.name})"

  depends_on = [google_project_service.enabled]
}

# Pub/Sub

resource "google_pubsub_topic_iam_member" "receiver_publishes" {
  topic  = google_pubsub_topic.envelopes.name
  role   = "roles/pubsub.publisher"
  member = google_service_account.receiver.member
}

resource "google_pubsub_topic_iam_member" "worker_publishes" {
  topic  = google_pubsub_topic.envelopes.name
  role   = "roles/pubsub.publisher"
  member = google_service_account.worker.member
}

resource "google_pubsub_topic_iam_member" "worker_dead_letters" {
  topic  = google_pubsub_topic.dead.name
  role   = "roles/pubsub.publisher"
  member = google_service_account.worker.member
}

resource "google_pubsub_subscription_iam_member" "worker_reads_dead_letters" {
  subscription = google_pubsub_subscription.dead_letters.name
  role         = "roles/pubsub.subscriber"
  member       = google_service_account.worker.member
}

# The Pub/Sub service agent forwards what the workers' subscription gives up on to the dead
# topic (publisher there, subscriber on the subscription), and signs the pushes' OIDC tokens
# as the pusher account.

resource "google_pubsub_topic_iam_member" "pubsub_forwards_dead_letters" {
  topic  = google_pubsub_topic.dead.name
  role   = "roles/pubsub.publisher"
  member = local.pubsub_service_agent

  depends_on = [google_project_service.enabled]
}

resource "google_pubsub_subscription_iam_member" "pubsub_acks_forwarded" {
  subscription = google_pubsub_subscription.workers.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

resource "google_service_account_iam_member" "pubsub_signs_for_pusher" {
  service_account_id = google_service_account.pusher.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_service_agent

  depends_on = [google_project_service.enabled]
}

# Secrets

resource "google_secret_manager_secret_iam_member" "receiver_public_key" {
  secret_id = google_secret_manager_secret.discord["DISCORD_PUBLIC_KEY"].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.receiver.member
}

resource "google_secret_manager_secret_iam_member" "worker_discord" {
  for_each  = local.discord_secrets
  secret_id = google_secret_manager_secret.discord[each.key].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.worker.member
}

resource "google_secret_manager_secret_iam_member" "worker_database_url" {
  secret_id = google_secret_manager_secret.database_url.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.worker.member
}

# Cloud SQL and the bucket

resource "google_project_iam_member" "worker_cloudsql" {
  project = var.project
  role    = "roles/cloudsql.client"
  member  = google_service_account.worker.member
}

resource "google_storage_bucket_iam_member" "worker_uploads" {
  bucket = google_storage_bucket.mandalas.name
  role   = "roles/storage.objectCreator"
  member = google_service_account.worker.member
}

# Who may call the services: anyone the receiver (Discord calls it; it checks Discord's
# signature on every request), only the pusher the worker.

resource "google_cloud_run_v2_service_iam_member" "receiver_public" {
  name     = google_cloud_run_v2_service.receiver.name
  location = google_cloud_run_v2_service.receiver.location
  role     = "roles/run.invoker"
  member   = "allUsers"
}

resource "google_cloud_run_v2_service_iam_member" "pusher_invokes_worker" {
  name     = google_cloud_run_v2_service.worker.name
  location = google_cloud_run_v2_service.worker.location
  role     = "roles/run.invoker"
  member   = google_service_account.pusher.member
}
