package envvars

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// serviceEnv builds the docker-link style variables for the pod's
// namespace (when enableServiceLinks, default true) and, always, for the
// "kubernetes" service in "default", as upstream's getServiceEnvVarMap.
func serviceEnv(src Sources, pod *corev1.Pod) (map[string]string, error) {
	out := map[string]string{}
	links := pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks
	chosen := map[string]*corev1.Service{}
	if links {
		svcs, err := src.ListServices(pod.Namespace)
		if err != nil {
			return nil, fmt.Errorf("listing services in %s: %w", pod.Namespace, err)
		}
		for _, s := range svcs {
			chosen[s.Name] = s
		}
	}
	if _, ok := chosen["kubernetes"]; !ok || pod.Namespace != "default" {
		defs, err := src.ListServices("default")
		if err != nil {
			return nil, fmt.Errorf("listing services in default: %w", err)
		}
		for _, s := range defs {
			if s.Name == "kubernetes" {
				if _, taken := chosen[s.Name]; !taken {
					chosen[s.Name] = s
				}
			}
		}
	}
	for _, s := range chosen {
		addServiceVars(out, s)
	}
	return out, nil
}

func addServiceVars(out map[string]string, s *corev1.Service) {
	ip := s.Spec.ClusterIP
	if ip == "" || ip == corev1.ClusterIPNone {
		return
	}
	prefix := strings.ToUpper(strings.ReplaceAll(s.Name, "-", "_"))
	out[prefix+"_SERVICE_HOST"] = ip
	if len(s.Spec.Ports) > 0 {
		out[prefix+"_SERVICE_PORT"] = strconv.Itoa(int(s.Spec.Ports[0].Port))
	}
	for i, p := range s.Spec.Ports {
		port := strconv.Itoa(int(p.Port))
		if p.Name != "" {
			out[prefix+"_SERVICE_PORT_"+strings.ToUpper(strings.ReplaceAll(p.Name, "-", "_"))] = port
		}
		proto := string(p.Protocol)
		if proto == "" {
			proto = string(corev1.ProtocolTCP)
		}
		url := strings.ToLower(proto) + "://" + net.JoinHostPort(ip, port)
		if i == 0 {
			out[prefix+"_PORT"] = url
		}
		pp := prefix + "_PORT_" + port + "_" + strings.ToUpper(proto)
		out[pp] = url
		out[pp+"_PROTO"] = strings.ToLower(proto)
		out[pp+"_PORT"] = port
		out[pp+"_ADDR"] = ip
	}
}
