# The APIs the stack uses. serviceusage and cloudresourcemanager must already be enabled for
# Terraform to enable the others (new projects have them; otherwise see README.md).
locals {
  services = toset([
    "artifactregistry.googleapis.com",
    "billingbudgets.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "iam.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "sqladmin.googleapis.com",
    "storage.googleapis.com",
  ])
}

resource "google_project_service" "enabled" {
  for_each = local.services
  service  = each.key

  # Destroying the stack leaves the APIs on: other things in the project may use them.
  disable_on_destroy = false
}

data "google_project" "this" {
  project_id = var.project
}
