"""How long a first `pulumi up` may honestly take at each stage, in one place, so every timeout agrees.

pulumi-kubernetes waits 10 minutes for a Job, Deployment or Service by default
(its await logic), and a Deployment's own progress deadline is 10 minutes: both are
shorter than a first start that copies and loads ResNet101 on a node that may still be booting.
"""

# The copy Job's deadline: new IAM grants take minutes to apply (Google: "typically 2 minutes, up to 7"),
# during which the Job's pods fail and are retried with back-off; the copy itself takes a minute or two.
MODEL_COPY_DEADLINE_SECONDS = 900
# Pulumi's wait for the Job: its deadline, plus scheduling (perhaps a new system node) and the image pull.
MODEL_COPY_TIMEOUT = "20m"

# TF Serving opens its ports only once the model is loaded; the startup probe allows this long.
MODEL_LOAD_SECONDS = 900
# Before the container starts: a new node (80-120 s, GKE docs) and the image pull.
NODE_AND_IMAGE_SECONDS = 300
# The Deployment's progress deadline covers both; past it, the rollout is reported as failed.
PROGRESS_DEADLINE_SECONDS = MODEL_LOAD_SECONDS + NODE_AND_IMAGE_SECONDS
# Pulumi's wait for the Deployment and for the Service's ready endpoints (the same pods), a little longer,
# so that Kubernetes' own verdict (ProgressDeadlineExceeded) is what the user sees.
ROLLOUT_TIMEOUT = f"{PROGRESS_DEADLINE_SECONDS // 60 + 5}m"
