package envvars

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Sources reads the objects env vars refer to. Getters return an error for
// which apierrors.IsNotFound holds when the object does not exist.
type Sources interface {
	GetConfigMap(namespace, name string) (*corev1.ConfigMap, error)
	GetSecret(namespace, name string) (*corev1.Secret, error)
	// ListServices returns the Services of one namespace.
	ListServices(namespace string) ([]*corev1.Service, error)
}

// Node is what the agent knows that the pod object may not carry yet.
type Node struct {
	Name        string
	HostIPs     []string
	Allocatable corev1.ResourceList
}

// Result is a container's resolved environment, command and args.
type Result struct {
	Env     []corev1.EnvVar // Name and Value only
	Command []string
	Args    []string
	// InvalidKeys are envFrom keys skipped because they are not valid
	// variable names (upstream records an event listing them).
	InvalidKeys []string
}

// env is an ordered map: the last definition of a name wins but keeps the
// position of its first definition.
type env struct {
	names  []string
	values map[string]string
}

func (e *env) set(name, value string) {
	if _, ok := e.values[name]; !ok {
		e.names = append(e.names, name)
	}
	e.values[name] = value
}

// Resolve computes container c's environment in pod. podIPs are the pod's
// sandbox addresses (the pod status may not carry them yet).
func Resolve(src Sources, pod *corev1.Pod, c *corev1.Container, node Node, podIPs []string) (Result, error) {
	svc, err := serviceEnv(src, pod)
	if err != nil {
		return Result{}, err
	}
	e := &env{values: map[string]string{}}
	var res Result
	for _, from := range c.EnvFrom {
		invalid, err := addEnvFrom(src, pod.Namespace, from, e)
		if err != nil {
			return Result{}, err
		}
		res.InvalidKeys = append(res.InvalidKeys, invalid...)
	}
	for i := range c.Env {
		ev := &c.Env[i]
		v, ok, err := envValue(src, pod, c, node, podIPs, ev, mapFrom(e.values, svc))
		if err != nil {
			return Result{}, fmt.Errorf("env %s: %w", ev.Name, err)
		}
		if ok {
			e.set(ev.Name, v)
		}
	}
	// Service variables never override what the container defines.
	svcNames := make([]string, 0, len(svc))
	for k := range svc {
		svcNames = append(svcNames, k)
	}
	sort.Strings(svcNames)
	for _, k := range svcNames {
		if _, ok := e.values[k]; !ok {
			e.set(k, svc[k])
		}
	}
	for _, n := range e.names {
		res.Env = append(res.Env, corev1.EnvVar{Name: n, Value: e.values[n]})
	}
	mapping := mapFrom(e.values)
	res.Command = expandAll(c.Command, mapping)
	res.Args = expandAll(c.Args, mapping)
	return res, nil
}

func expandAll(in []string, mapping func(string) (string, bool)) []string {
	if in == nil {
		return nil
	}
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = Expand(s, mapping)
	}
	return out
}

// addEnvFrom adds a ConfigMap's or Secret's keys, sorted, with the prefix.
func addEnvFrom(src Sources, ns string, from corev1.EnvFromSource, e *env) ([]string, error) {
	var data map[string]string
	switch {
	case from.ConfigMapRef != nil:
		cm, err := src.GetConfigMap(ns, from.ConfigMapRef.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && ptrTrue(from.ConfigMapRef.Optional) {
				return nil, nil
			}
			return nil, fmt.Errorf("envFrom configmap %s: %w", from.ConfigMapRef.Name, err)
		}
		data = cm.Data
	case from.SecretRef != nil:
		s, err := src.GetSecret(ns, from.SecretRef.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && ptrTrue(from.SecretRef.Optional) {
				return nil, nil
			}
			return nil, fmt.Errorf("envFrom secret %s: %w", from.SecretRef.Name, err)
		}
		data = make(map[string]string, len(s.Data))
		for k, v := range s.Data {
			data[k] = string(v)
		}
	default:
		return nil, nil
	}
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var invalid []string
	for _, k := range keys {
		name := from.Prefix + k
		if len(validation.IsRelaxedEnvVarName(name)) != 0 {
			invalid = append(invalid, name)
			continue
		}
		e.set(name, data[k])
	}
	return invalid, nil
}

// envValue resolves one env entry; ok is false when an optional reference
// is missing and the variable is left out.
func envValue(src Sources, pod *corev1.Pod, c *corev1.Container, node Node, podIPs []string,
	ev *corev1.EnvVar, mapping func(string) (string, bool)) (string, bool, error) {
	vf := ev.ValueFrom
	if vf == nil {
		return Expand(ev.Value, mapping), true, nil
	}
	switch {
	case vf.FieldRef != nil:
		v, err := fieldValue(pod, node, podIPs, vf.FieldRef.FieldPath)
		return v, err == nil, err
	case vf.ResourceFieldRef != nil:
		target := c
		if vf.ResourceFieldRef.ContainerName != "" {
			if target = FindContainer(pod, vf.ResourceFieldRef.ContainerName); target == nil {
				return "", false, fmt.Errorf("container %q not found", vf.ResourceFieldRef.ContainerName)
			}
		}
		v, err := ResourceValue(vf.ResourceFieldRef, target, node.Allocatable)
		return v, err == nil, err
	case vf.ConfigMapKeyRef != nil:
		ref := vf.ConfigMapKeyRef
		cm, err := src.GetConfigMap(pod.Namespace, ref.Name)
		if err != nil {
			return optionalMissing(ref.Optional, err, "configmap "+ref.Name)
		}
		v, ok := cm.Data[ref.Key]
		if !ok {
			return optionalMissing(ref.Optional, nil, fmt.Sprintf("key %s in configmap %s", ref.Key, ref.Name))
		}
		return v, true, nil
	case vf.SecretKeyRef != nil:
		ref := vf.SecretKeyRef
		s, err := src.GetSecret(pod.Namespace, ref.Name)
		if err != nil {
			return optionalMissing(ref.Optional, err, "secret "+ref.Name)
		}
		v, ok := s.Data[ref.Key]
		if !ok {
			return optionalMissing(ref.Optional, nil, fmt.Sprintf("key %s in secret %s", ref.Key, ref.Name))
		}
		return string(v), true, nil
	}
	return "", false, fmt.Errorf("unsupported valueFrom")
}

// optionalMissing turns a missing object or key into "skip" when the
// reference is optional; any other error is returned.
func optionalMissing(optional *bool, err error, what string) (string, bool, error) {
	if (err == nil || apierrors.IsNotFound(err)) && ptrTrue(optional) {
		return "", false, nil
	}
	if err == nil {
		return "", false, fmt.Errorf("couldn't find %s", what)
	}
	return "", false, fmt.Errorf("%s: %w", what, err)
}

// fieldValue resolves the env-only field paths on top of MetadataValue.
func fieldValue(pod *corev1.Pod, node Node, podIPs []string, path string) (string, error) {
	first := func(s []string) string {
		if len(s) == 0 {
			return ""
		}
		return s[0]
	}
	switch path {
	case "spec.nodeName":
		if pod.Spec.NodeName != "" {
			return pod.Spec.NodeName, nil
		}
		return node.Name, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP":
		return first(node.HostIPs), nil
	case "status.hostIPs":
		return strings.Join(node.HostIPs, ","), nil
	case "status.podIP":
		return first(podIPs), nil
	case "status.podIPs":
		return strings.Join(podIPs, ","), nil
	}
	return MetadataValue(pod, path)
}

func ptrTrue(b *bool) bool { return b != nil && *b }
