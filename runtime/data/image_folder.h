// File-tree image datasets. ImageFolder reads `dir/<class>/<file>` (the
// ImageNet train/val layout, val already sorted into class folders): classes
// are the subdirectory names in sorted order (or a given list, so that several
// folders share one mapping), files are JPEG or PNG by extension and decoded
// by content. Construction scans the tree once; by default every file's header
// is parsed and its end checked for the JPEG EOI marker (Verify::Quick), and
// files that fail are left out of the dataset and reported by skipped().
// Verify::Full decodes every file; Verify::None trusts the listing (the loader
// then counts and replaces what fails to decode). ImageNetC reads
// `root/<corruption>/<severity>/<class>/<file>`, one ImageFolder per
// (corruption, severity), all with the same class mapping.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/data/dataset.h"

namespace acnn::data {

enum class Verify { None, Quick, Full };

struct ImageFolderOptions {
  Verify verify = Verify::Quick;
  std::vector<std::string> classes;  // fixed class list in index order; empty: sorted subdirectories
  int threads = 0;                   // scan threads; 0: hardware concurrency
  int channels = 3;                  // channels of decoded images (gray files are expanded)
};

struct SkippedFile {
  std::string path;
  std::string reason;
};

class ImageFolder : public Dataset {
 public:
  explicit ImageFolder(const std::string& dir, ImageFolderOptions options = {});

  size_t size() const override { return files_.size(); }
  int num_classes() const override { return static_cast<int>(classes_.size()); }
  int label(size_t i) const override { return files_.at(i).label; }
  // Reads the file; the Sample carries the encoded bytes and the decoded size.
  // Throws DecodeError (with the path) for unreadable or undecodable files.
  Sample get(size_t i) const override;
  int channels() const override { return options_.channels; }
  std::string name() const override { return dir_; }
  std::vector<std::string> class_names() const override { return classes_; }

  const std::string& path(size_t i) const { return files_.at(i).path; }
  const std::string& dir() const { return dir_; }
  // Files left out by verification, with the reason.
  const std::vector<SkippedFile>& skipped() const { return skipped_; }
  size_t skipped_count() const override { return skipped_.size(); }

 private:
  struct Entry {
    std::string path;
    int label;
  };
  std::string dir_;
  ImageFolderOptions options_;
  std::vector<std::string> classes_;
  std::vector<Entry> files_;
  std::vector<SkippedFile> skipped_;
};

// True for names ending in .jpeg, .jpg or .png (any case).
bool is_image_file_name(const std::string& name);

// Checks one encoded file as Verify::Quick / Verify::Full would; returns ""
// when it is fine, else the reason.
std::string verify_image_bytes(const std::vector<uint8_t>& bytes, Verify level);

// The ImageNet layout: root/train/<class>/..., root/val/<class>/...
// ("train" or "val"; the val set must already be sorted into class folders).
std::shared_ptr<ImageFolder> open_imagenet(const std::string& root, const std::string& split,
                                           ImageFolderOptions options = {});

class ImageNetC {
 public:
  // Lists root/<corruption>/<severity> folders; `options.classes`, when empty,
  // is taken from the first folder found so that all folders agree.
  explicit ImageNetC(const std::string& root, ImageFolderOptions options = {});
  const std::string& root() const { return root_; }
  std::vector<std::string> corruptions() const;
  std::vector<int> severities(const std::string& corruption) const;
  bool has(const std::string& corruption, int severity) const;
  // Scans root/<corruption>/<severity> (throws when absent).
  std::shared_ptr<ImageFolder> open(const std::string& corruption, int severity) const;
  const std::vector<std::string>& classes() const { return options_.classes; }

 private:
  std::string root_;
  ImageFolderOptions options_;
  std::map<std::string, std::vector<int>> layout_;
};

}  // namespace acnn::data
