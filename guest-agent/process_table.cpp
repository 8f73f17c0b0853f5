// SPDX-License-Identifier: Apache-2.0
// Process table bookkeeping.
#include "guest-agent/process_table.hpp"

#include <signal.h>

#include "guest-agent/process_tree.hpp"

namespace nexus::agent {

void ProcessTable::add(std::shared_ptr<Process> process) {
  auto* raw = process.get();
  process->set_on_finished([this, raw](Process*) { draining_.erase(raw); });
  live_[process->pid()] = std::move(process);
}

std::shared_ptr<Process> ProcessTable::find(pid_t pid) const {
  auto it = live_.find(pid);
  if (it != live_.end()) return it->second;
  for (const auto& [raw, p] : draining_)
    if (p->pid() == pid && !p->finished()) return p;
  return nullptr;
}

std::shared_ptr<Process> ProcessTable::find_tag(const std::string& tag) const {
  for (const auto& p : list())
    if (p->tag() && *p->tag() == tag) return p;
  return nullptr;
}

std::vector<std::shared_ptr<Process>> ProcessTable::list() const {
  std::map<pid_t, std::shared_ptr<Process>> by_pid;
  for (const auto& [raw, p] : draining_)
    if (!p->finished()) by_pid[p->pid()] = p;
  for (const auto& [pid, p] : live_) by_pid[pid] = p;  // a reused pid: the live one wins
  std::vector<std::shared_ptr<Process>> out;
  for (auto& [pid, p] : by_pid) out.push_back(std::move(p));
  return out;
}

bool ProcessTable::on_child_status(pid_t pid, int status) {
  auto it = live_.find(pid);
  if (it == live_.end()) return false;
  auto process = std::move(it->second);
  live_.erase(it);
  draining_[process.get()] = process;  // erased by the on_finished callback
  process->on_wait_status(status);
  return true;
}

void ProcessTable::kill_all() {
  for (const auto& [pid, p] : live_) p->signal_tree(SIGKILL);
  for (const auto& [raw, p] : draining_) p->signal_tree(SIGKILL);
}

}  // namespace nexus::agent
