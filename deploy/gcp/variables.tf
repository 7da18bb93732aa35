variable "project" {
  description = "The Google Cloud project ID."
  type        = string
}

variable "region" {
  description = "The region of the Cloud Run services, the Cloud SQL instance, the bucket and the image repository."
  type        = string
  default     = "us-central1"
}

variable "name" {
  description = "The bot's name: Pub/Sub topic NAME (NAME-dead, NAME-workers, NAME-dead-letters), services NAME-receiver and NAME-worker, REGIS_BOT_NAME."
  type        = string
  default     = "regis"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,19}[a-z0-9]$", var.name))
    error_message = "The name must be 3-21 lowercase letters, digits and hyphens, start with a letter and not end with a hyphen (it names service accounts, services and the topic)."
  }
}

variable "image" {
  description = "The container image of Regis, e.g. us-central1-docker.pkg.dev/PROJECT/regis/regis:0.1.0 (built from the repository's Dockerfile)."
  type        = string
}

variable "billing_account" {
  description = "The billing account ID (XXXXXX-XXXXXX-XXXXXX) the budget watches."
  type        = string
}

variable "budget_amount" {
  description = "The monthly budget, in whole units of the billing account's currency; alerts at 50%, 90% and 100% of it."
  type        = number
  default     = 20

  validation {
    condition     = var.budget_amount > 0 && floor(var.budget_amount) == var.budget_amount
    error_message = "The budget must be a positive whole amount."
  }
}

variable "alert_email" {
  description = "An address that gets the budget alerts too (the billing account's administrators get them anyway). Empty: none."
  type        = string
  default     = ""
}

variable "worker_url" {
  description = "The worker's URL, without a path. Empty: its deterministic URL, https://NAME-worker-PROJECT_NUMBER.REGION.run.app. Set it to the output worker_service_uri and apply again if that URL is not assigned (run.app URLs disabled)."
  type        = string
  default     = ""
}

variable "receiver_max_instances" {
  description = "The most receiver instances Cloud Run starts."
  type        = number
  default     = 10
}

variable "worker_max_instances" {
  description = "The most worker instances Cloud Run starts. Each holds up to 12 database connections (3 per plugin): keep it × 12 under the instance's max_connections (50)."
  type        = number
  default     = 3
}

variable "bucket_name" {
  description = "The bucket of the /mando images (public). Empty: PROJECT-NAME-mandalas."
  type        = string
  default     = ""
}

variable "deletion_protection" {
  description = "Whether Terraform refuses to destroy the Cloud SQL instance (and its data)."
  type        = bool
  default     = true
}
