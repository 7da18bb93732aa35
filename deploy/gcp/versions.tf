# Terraform 1.5 or later (check blocks, preconditions) and the Google provider 6.x.
terraform {
  required_version = ">= 1.5"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.5"
    }
  }
}

provider "google" {
  project = var.project
  region  = var.region

  # The budget API needs a quota project when Terraform runs with a person's credentials
  # (gcloud auth application-default login): the calls are billed to this project.
  billing_project       = var.project
  user_project_override = true
}
