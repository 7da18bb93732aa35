# A monthly budget on this project with alerts at 50%, 90% and 100% of it. A budget alerts,
# it does not stop spending.

resource "google_monitoring_notification_channel" "budget" {
  count        = var.alert_email == "" ? 0 : 1
  display_name = "${var.name} budget"
  type         = "email"

  labels = {
    email_address = var.alert_email
  }

  depends_on = [google_project_service.enabled]
}

resource "google_billing_budget" "regis" {
  billing_account = var.billing_account
  display_name    = "${var.name} on ${var.project}"

  budget_filter {
    projects = ["projects/${data.google_project.this.number}"]
  }

  # In the billing account's own currency (no currency_code: it would have to match it).
  amount {
    specified_amount {
      units = tostring(var.budget_amount)
    }
  }

  threshold_rules {
    threshold_percent = 0.5
  }

  threshold_rules {
    threshold_percent = 0.9
  }

  threshold_rules {
    threshold_percent = 1.0
  }

  # The billing account's administrators and users are emailed in any case; alert_email too.
  all_updates_rule {
    monitoring_notification_channels = google_monitoring_notification_channel.budget[*].id
    disable_default_iam_recipients   = false
  }

  depends_on = [google_project_service.enabled]
}
