/* kube_quantity.h -- Kubernetes resource quantities ("500m", "2Gi", "1e3")
 * as numbers, for deriving Ray node types from pod templates.
 *
 * Grammar (k8s.io/apimachinery/pkg/api/resource/quantity.go):
 *   <sign><digits>[.<digits>]<suffix>, suffix one of
 *   binary Ki Mi Gi Ti Pi Ei, decimal n u m "" k M G T P E, or e<int>/E<int>.
 * No whitespace is allowed.  The value is returned as a double (exact for
 * every realistic CPU, GPU and memory amount). */
#ifndef RAYSENSE_CONTROLLER_KUBE_QUANTITY_H
#define RAYSENSE_CONTROLLER_KUBE_QUANTITY_H

/* 0, or -EINVAL for anything that is not a quantity (err says why, >= 128 B). */
int kube_quantity_parse(const char *s, double *out, char *err, unsigned long err_size);

/* Ray rounds container quantities up to whole units (autoscaling_config.py
 * _round_up_k8s_quantity); the tiny tolerance absorbs binary round-off of
 * exact decimal values like "1000m". */
double kube_quantity_ceil(double v);

#endif
