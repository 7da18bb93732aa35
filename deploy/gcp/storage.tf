# The /mando images: written by the workers (storage.objectCreator, iam.tf), read by anyone,
# since Discord shows them from https://storage.googleapis.com/BUCKET/mandalas/NAME.png.

locals {
  bucket = var.bucket_name != "" ? var.bucket_name : "${var.project}-${var.name}-mandalas"
}

resource "google_storage_bucket" "mandalas" {
  name                        = local.bucket
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "inherited"

  depends_on = [google_project_service.enabled]
}

resource "google_storage_bucket_iam_member" "public_read" {
  bucket = google_storage_bucket.mandalas.name
  role   = "roles/storage.objectViewer"
  member = "allUsers"
}
