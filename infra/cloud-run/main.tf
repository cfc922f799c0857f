# The inference function as a Cloud Run service with one GPU per instance.
#
# Why Cloud Run: it runs the container as it is (PORT, the v2 health endpoints as probes), scales
# GPU instances to zero and bills by the second, with drivers installed and no cluster to operate.
# Knative on GKE is the same container contract if a cluster is ever wanted.

locals {
  # One inference worker owns the GPU (functions/inference/pool-size.ts). Admitting two full batches
  # per instance keeps the GPU busy (one batch runs while the next forms) without queueing requests
  # that another instance could start on: past this, Cloud Run routes to (or starts) another instance.
  inference_workers = 1
  concurrency       = 2 * var.max_batch_size * local.inference_workers
  # Each admitted request may hold up to max_outputs_per_request items in the batcher; a queue that
  # fits them all means back-pressure comes from Cloud Run's concurrency, never from a 429 queue_full.
  max_queue_length = local.concurrency * var.max_outputs_per_request

  port = 8080
  apis = ["run.googleapis.com", "artifactregistry.googleapis.com", "secretmanager.googleapis.com"]

  # Secret Manager ids → the environment variable each one becomes.
  secrets = {
    AWS_ACCESS_KEY_ID     = "${var.service_name}-s3-access-key-id"
    AWS_SECRET_ACCESS_KEY = "${var.service_name}-s3-secret-access-key"
    ADMIN_TOKEN           = "${var.service_name}-admin-token"
    # The function answers only callers with this token (the edge's FUNCTION_AUTH_TOKEN secret).
    FUNCTION_AUTH_TOKEN = "${var.service_name}-caller-token"
  }

  plain_env = merge(
    {
      MODEL_SOURCE       = var.model_source
      AWS_REGION         = var.s3_region
      EXECUTION_PROVIDER = "cuda" # fail visibly (not ready) rather than serve slowly on the CPU
      INFERENCE_WORKERS  = tostring(local.inference_workers)
      MAX_BATCH_SIZE     = tostring(var.max_batch_size)
      MAX_QUEUE_DELAY_MS = tostring(var.max_queue_delay_ms)
      MAX_QUEUE_LENGTH   = tostring(local.max_queue_length)
      LOG_LEVEL          = var.log_level
    },
    var.s3_endpoint == "" ? {} : { AWS_ENDPOINT_URL_S3 = var.s3_endpoint },
  )
}

resource "google_project_service" "apis" {
  for_each           = toset(local.apis)
  service            = each.value
  disable_on_destroy = false
}

resource "google_artifact_registry_repository" "images" {
  repository_id = "sa-munit"
  location      = var.region
  format        = "DOCKER"
  description   = "Images of the SA-MUNIT inference function"
  depends_on    = [google_project_service.apis]
}

# The identity the function runs as: it may read its three secrets and nothing else.
resource "google_service_account" "function" {
  account_id   = var.service_name
  display_name = "SA-MUNIT inference function"
}

# Only the secrets are declared here. Their values are added with
#   printf %s "$VALUE" | gcloud secrets versions add <id> --data-file=-
# so no credential is ever written to the Terraform state.
resource "google_secret_manager_secret" "env" {
  for_each  = local.secrets
  secret_id = each.value
  replication {
    auto {}
  }
  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_iam_member" "function_reads" {
  for_each  = google_secret_manager_secret.env
  secret_id = each.value.id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.function.email}"
}

resource "google_cloud_run_v2_service" "function" {
  name                = var.service_name
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_ALL"
  deletion_protection = var.deletion_protection

  template {
    # A new value makes a new revision: its instances read current.json as they start, the old
    # revision's drain. This is how a moved pointer (a new model version, or a rollback) reaches
    # every instance at once (docs/deploy.md, "Rolling a model version forward and back").
    annotations = {
      "sa-munit/model-rollout" = var.model_rollout
    }
    service_account                  = google_service_account.function.email
    max_instance_request_concurrency = local.concurrency
    timeout                          = "${var.request_timeout_seconds}s"
    gpu_zonal_redundancy_disabled    = !var.gpu_zonal_redundancy

    scaling {
      min_instance_count = var.min_instances
      max_instance_count = var.max_instances
    }

    node_selector {
      accelerator = var.gpu_type
    }

    containers {
      image = var.image

      ports {
        container_port = local.port
      }

      resources {
        limits = {
          cpu              = var.cpu
          memory           = var.memory
          "nvidia.com/gpu" = "1"
        }
        # GPU instances use instance-based billing: the CPU is always allocated.
        cpu_idle          = false
        startup_cpu_boost = true
      }

      dynamic "env" {
        for_each = local.plain_env
        content {
          name  = env.key
          value = env.value
        }
      }

      dynamic "env" {
        for_each = local.secrets
        content {
          name = env.key
          value_source {
            secret_key_ref {
              secret  = google_secret_manager_secret.env[env.key].secret_id
              version = "latest"
            }
          }
        }
      }

      # Ready = a model version verified (sha256) and warmed on the GPU. Download, verification
      # and warm-up take seconds; 48 × 5 s = 240 s is Cloud Run's longest startup probe window.
      startup_probe {
        http_get {
          path = "/v2/health/ready"
          port = local.port
        }
        period_seconds    = 5
        timeout_seconds   = 3
        failure_threshold = 48
      }

      # Live = the event loop answers. Never the ready endpoint: a failed reload keeps serving the
      # old version and must not get the instance restarted.
      liveness_probe {
        http_get {
          path = "/v2/health/live"
          port = local.port
        }
        period_seconds    = 15
        timeout_seconds   = 3
        failure_threshold = 4
      }
    }
  }

  traffic {
    type    = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"
    percent = 100
  }

  depends_on = [google_project_service.apis, google_secret_manager_secret_iam_member.function_reads]
}

# The edge authenticates callers (API keys, rate limits) and reaches the service over HTTPS.
resource "google_cloud_run_v2_service_iam_member" "public" {
  count    = var.public ? 1 : 0
  name     = google_cloud_run_v2_service.function.name
  location = google_cloud_run_v2_service.function.location
  role     = "roles/run.invoker"
  member   = "allUsers"
}
