// SPDX-License-Identifier: Apache-2.0
// PathSet: the paths one layer wrote, as a tree of components, so that memory grows with the
// names in the layer, not with every entry's full path times its depth.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace nexus::rootfs::layer {

class PathSet {
 public:
  struct Node {
    std::unordered_map<std::string, std::unique_ptr<Node>> children;
  };

  /// Adds `rel` (normalised, "" is the root) and so every parent of it.
  void insert(std::string_view rel);
  /// The node of `rel`, or nullptr when it was not inserted. "" gives the root.
  const Node* find(std::string_view rel) const;
  /// The child `name` of `node` (which may be nullptr), or nullptr.
  static const Node* child(const Node* node, std::string_view name);
  void clear() { root_.children.clear(); }

 private:
  Node root_;
};

}  // namespace nexus::rootfs::layer
