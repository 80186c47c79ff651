package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestAdminKubeconfig(t *testing.T) {
	tmp := t.TempDir()
	dataDir := filepath.Join(tmp, "data")
	admin := filepath.Join(dataDir, "kubeconfig.yaml")
	home := filepath.Join(tmp, "home", ".kube", "config")
	for _, f := range []string{admin, home} {
		if err := os.MkdirAll(filepath.Dir(f), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	noEnv := func(string) string { return "" }
	withEnv := func(k string) string {
		if k == "KUBECONFIG" {
			return "/elsewhere"
		}
		return ""
	}
	missing := filepath.Join(tmp, "nothing-here")

	for _, tc := range []struct {
		name       string
		args       []string
		getenv     func(string) string
		homeConfig string
		dataDir    string
		want       string
	}{
		{"defaults to admin", []string{"get", "pods"}, noEnv, missing, dataDir, admin},
		{"KUBECONFIG wins", []string{"get", "pods"}, withEnv, missing, dataDir, ""},
		{"--kubeconfig wins", []string{"--kubeconfig", "/x", "get", "pods"}, noEnv, missing, dataDir, ""},
		{"--kubeconfig= wins", []string{"get", "pods", "--kubeconfig=/x"}, noEnv, missing, dataDir, ""},
		{"~/.kube/config wins", []string{"get", "pods"}, noEnv, home, dataDir, ""},
		{"after -- is not kubectl's", []string{"exec", "p", "--", "sh", "--kubeconfig=/x"}, noEnv, missing, dataDir, admin},
		{"no admin kubeconfig", []string{"get", "pods"}, noEnv, missing, filepath.Join(tmp, "empty"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := adminKubeconfig(tc.args, tc.getenv, tc.homeConfig, tc.dataDir)
			if got != tc.want || ok != (tc.want != "") {
				t.Errorf("adminKubeconfig = %q, %v; want %q", got, ok, tc.want)
			}
		})
	}
}
