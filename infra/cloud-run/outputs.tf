output "url" {
  description = "The service's HTTPS URL: one entry of the edge's FUNCTION_POOL secret."
  value       = google_cloud_run_v2_service.function.uri
}

output "image_repository" {
  description = "Where to push the image built from functions/Dockerfile."
  value       = "${google_artifact_registry_repository.images.location}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
}

output "secrets" {
  description = "Secret Manager ids that need a value (gcloud secrets versions add) before the service can start."
  value       = { for name, secret in google_secret_manager_secret.env : name => secret.secret_id }
}

output "concurrency" {
  description = "Requests one instance takes at once (2 × MAX_BATCH_SIZE), and the batcher's queue length that goes with it."
  value       = { per_instance = local.concurrency, max_queue_length = local.max_queue_length }
}
