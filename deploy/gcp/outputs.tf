output "interactions_endpoint_url" {
  description = "Discord's Interactions Endpoint URL (developer portal, General Information)."
  value       = "${google_cloud_run_v2_service.receiver.uri}/interactions"
}

output "receiver_url" {
  description = "The receiver's URL."
  value       = google_cloud_run_v2_service.receiver.uri
}

output "worker_url" {
  description = "The worker URL Pub/Sub pushes to and the worker checks the pushes' audience against."
  value       = local.worker_url
}

output "worker_service_uri" {
  description = "The URL Cloud Run reports for the worker: worker_url's value for a second apply if the deterministic URL is not assigned."
  value       = google_cloud_run_v2_service.worker.uri
}

output "bucket_url" {
  description = "Where the /mando images are served from (REGIS_PUBLIC_BASE_URL)."
  value       = "https://storage.googleapis.com/${google_storage_bucket.mandalas.name}"
}

output "image_repository" {
  description = "Push the image here: IMAGE_REPOSITORY/regis:TAG."
  value       = "${var.region}-docker.pkg.dev/${var.project}/${google_artifact_registry_repository.images.repository_id}"
}

output "pusher_service_account" {
  description = "The account whose OIDC token every push carries."
  value       = google_service_account.pusher.email
}

output "database_instance" {
  description = "The Cloud SQL instance's connection name (PROJECT:REGION:INSTANCE)."
  value       = google_sql_database_instance.regis.connection_name
}
