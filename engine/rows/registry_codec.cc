#include "engine/rows/registry_codec.h"

#include <flatbuffers/flatbuffers.h>

#include "engine/rows/catalog.h"
#include "layout/registry_generated.h"

namespace larder {

namespace {

using flatbuffers::FlatBufferBuilder;
using flatbuffers::Offset;
using flatbuffers::String;
using flatbuffers::Vector;

Offset<Vector<Offset<fb::KeyValue>>> EncodeTags(FlatBufferBuilder& b, const Tags& tags) {
  std::vector<Offset<fb::KeyValue>> kvs;
  for (const auto& [k, v] : tags) kvs.push_back(fb::CreateKeyValue(b, b.CreateString(k), b.CreateString(v)));
  return b.CreateVector(kvs);
}

Offset<Vector<Offset<String>>> EncodeStrings(FlatBufferBuilder& b,
                                            const std::vector<std::string>& v) {
  return b.CreateVectorOfStrings(v);
}

std::string Str(const String* s) { return s ? s->str() : std::string(); }

std::vector<std::string> Strs(const Vector<Offset<String>>* v) {
  std::vector<std::string> out;
  if (v) for (const auto* s : *v) out.push_back(Str(s));
  return out;
}

Tags DecodeTags(const Vector<Offset<fb::KeyValue>>* v) {
  Tags out;
  if (v) for (const auto* kv : *v) out[Str(kv->key())] = Str(kv->value());
  return out;
}

Result<DType> DecodeDType(uint8_t byte) { return DType::Decode(byte); }

Result<ScalarType> DecodeScalar(uint8_t byte) {
  LARDER_ASSIGN_OR_RETURN(DType t, DType::Decode(byte));
  if (t.is_array) return CorruptStore("array type where a scalar is required");
  return t.scalar;
}

// Fields with their slots (View.placed_features, retired_features).
Result<std::vector<FieldDef>> DecodePlacedFields(const Vector<Offset<fb::Field>>* v) {
  std::vector<FieldDef> out;
  if (v == nullptr) return out;
  for (const auto* f : *v) {
    LARDER_ASSIGN_OR_RETURN(DType t, DecodeDType(f->dtype()));
    out.push_back({Str(f->name()), t, f->slot(), f->null_bit()});
  }
  return out;
}

}  // namespace

std::string EncodeRegistry(const RepoConfig& c, uint32_t next_view_id) {
  FlatBufferBuilder b(4096);
  std::vector<Offset<fb::Entity>> entities;
  for (const auto& e : c.entities) {
    entities.push_back(fb::CreateEntity(b, b.CreateString(e.name), EncodeStrings(b, e.join_keys),
                                        static_cast<uint8_t>(e.value_type),
                                        b.CreateString(e.description), EncodeTags(b, e.tags),
                                        b.CreateString(e.owner)));
  }
  std::vector<Offset<fb::Source>> sources;
  for (const auto& s : c.sources) {
    sources.push_back(fb::CreateSource(
        b, b.CreateString(s.name), static_cast<uint8_t>(s.kind), b.CreateString(s.path),
        b.CreateString(s.resolved_path), b.CreateString(s.timestamp_field),
        b.CreateString(s.created_timestamp_column), b.CreateString(s.batch_source),
        b.CreateString(s.description), EncodeTags(b, s.tags), b.CreateString(s.owner),
        s.external_type.empty() ? 0 : b.CreateString(s.external_type)));
  }
  std::vector<Offset<fb::View>> views;
  for (const auto& v : c.views) {
    // Schema-order views keep the encoding every build reads; others carry their slots
    // (registry.fbs, View.placed_features) behind a marker older builds refuse.
    const bool schema_order = !v.layout_evolved && HasSchemaOrderLayout(v);
    auto encode_fields = [&](const std::vector<FieldDef>& list, bool with_slots) {
      std::vector<Offset<fb::Field>> out;
      for (const auto& f : list) {
        out.push_back(fb::CreateField(b, b.CreateString(f.name), f.dtype.Encode(),
                                      with_slots ? f.slot : -1, with_slots ? f.null_bit : -1));
      }
      return b.CreateVector(out);
    };
    Offset<Vector<Offset<fb::Field>>> placed = 0;
    Offset<Vector<Offset<fb::Field>>> retired = 0;
    Offset<Vector<Offset<fb::Field>>> fields;
    if (schema_order) {
      fields = encode_fields(v.features, false);
    } else {
      placed = encode_fields(v.features, true);
      retired = encode_fields(v.retired_features, true);
      std::vector<Offset<fb::Field>> marker = {
          fb::CreateField(b, b.CreateString(kEvolvedLayoutMarkerName), kEvolvedLayoutMarker)};
      fields = b.CreateVector(marker);
    }
    std::vector<Offset<fb::JoinKey>> keys;
    for (const auto& k : v.join_keys) {
      keys.push_back(fb::CreateJoinKey(b, b.CreateString(k.name), static_cast<uint8_t>(k.type)));
    }
    views.push_back(fb::CreateView(b, v.id, b.CreateString(v.name), EncodeStrings(b, v.entities),
                                   v.ttl_seconds, b.CreateString(v.source), v.online, fields,
                                   b.CreateVector(keys), b.CreateString(v.description),
                                   EncodeTags(b, v.tags), b.CreateString(v.owner), placed,
                                   retired));
  }
  std::vector<Offset<fb::Service>> services;
  for (const auto& s : c.services) {
    std::vector<Offset<fb::Projection>> projections;
    for (const auto& p : s.projections) {
      projections.push_back(
          fb::CreateProjection(b, b.CreateString(p.view), EncodeStrings(b, p.features)));
    }
    services.push_back(fb::CreateService(b, b.CreateString(s.name), b.CreateVector(projections),
                                         b.CreateString(s.description), EncodeTags(b, s.tags),
                                         b.CreateString(s.owner)));
  }
  std::vector<Offset<fb::Interval>> intervals;
  for (const auto& i : c.intervals) {
    intervals.push_back(fb::CreateInterval(b, b.CreateString(i.view), i.start, i.end));
  }
  std::vector<Offset<fb::Unservable>> unservable;
  for (const auto& u : c.unservable) {
    unservable.push_back(fb::CreateUnservable(b, static_cast<uint8_t>(u.kind),
                                              b.CreateString(u.name), b.CreateString(u.reason)));
  }
  auto online = fb::CreateOnlineStore(b, b.CreateString(c.online_store.path),
                                      c.online_store.initial_capacity,
                                      c.online_store.memory_limit);
  auto root = fb::CreateRegistry(
      b, b.CreateString(c.project), online, b.CreateVector(entities), b.CreateVector(sources),
      b.CreateVector(views), b.CreateVector(services), b.CreateVector(intervals), next_view_id,
      b.CreateString(c.repo_dir), unservable.empty() ? 0 : b.CreateVector(unservable));
  b.Finish(root);
  return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

Result<RepoConfig> DecodeRegistry(std::string_view bytes, uint32_t* next_view_id) {
  flatbuffers::Verifier verifier(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  if (!fb::VerifyRegistryBuffer(verifier)) return CorruptStore("registry fails verification");
  const fb::Registry* r = fb::GetRegistry(bytes.data());
  RepoConfig c;
  c.project = Str(r->project());
  if (const auto* os = r->online_store()) {
    c.online_store.path = Str(os->path());
    c.online_store.initial_capacity = os->initial_capacity();
    c.online_store.memory_limit = os->memory_limit();
  }
  if (r->entities()) {
    for (const auto* e : *r->entities()) {
      EntityDef d;
      d.name = Str(e->name());
      d.join_keys = Strs(e->join_keys());
      LARDER_ASSIGN_OR_RETURN(d.value_type, DecodeScalar(e->value_type()));
      d.description = Str(e->description());
      d.tags = DecodeTags(e->tags());
      d.owner = Str(e->owner());
      c.entities.push_back(std::move(d));
    }
  }
  if (r->sources()) {
    for (const auto* s : *r->sources()) {
      SourceDef d;
      d.name = Str(s->name());
      if (s->kind() < 1 || s->kind() > 3) return CorruptStore("invalid source kind");
      d.kind = static_cast<SourceKind>(s->kind());
      d.external_type = Str(s->external_type());
      d.path = Str(s->path());
      d.resolved_path = Str(s->resolved_path());
      d.timestamp_field = Str(s->timestamp_field());
      d.created_timestamp_column = Str(s->created_timestamp_column());
      d.batch_source = Str(s->batch_source());
      d.description = Str(s->description());
      d.tags = DecodeTags(s->tags());
      d.owner = Str(s->owner());
      c.sources.push_back(std::move(d));
    }
  }
  if (r->views()) {
    for (const auto* v : *r->views()) {
      FeatureViewDef d;
      d.id = v->id();
      d.name = Str(v->name());
      d.entities = Strs(v->entities());
      d.ttl_seconds = v->ttl_seconds();
      d.source = Str(v->source());
      d.online = v->online();
      if (v->placed_features() != nullptr) {
        LARDER_ASSIGN_OR_RETURN(d.features, DecodePlacedFields(v->placed_features()));
        LARDER_ASSIGN_OR_RETURN(d.retired_features, DecodePlacedFields(v->retired_features()));
        d.layout_evolved = true;
      } else if (v->features()) {
        for (const auto* f : *v->features()) {
          LARDER_ASSIGN_OR_RETURN(DType t, DecodeDType(f->dtype()));
          d.features.push_back({Str(f->name()), t});
        }
        AssignSchemaOrderLayout(&d.features);
      }
      if (v->join_keys()) {
        for (const auto* k : *v->join_keys()) {
          LARDER_ASSIGN_OR_RETURN(ScalarType t, DecodeScalar(k->type()));
          d.join_keys.push_back({Str(k->name()), t});
        }
      }
      d.description = Str(v->description());
      d.tags = DecodeTags(v->tags());
      d.owner = Str(v->owner());
      LARDER_RETURN_IF_ERROR(ValidateLayout(d));
      c.views.push_back(std::move(d));
    }
  }
  if (r->services()) {
    for (const auto* s : *r->services()) {
      FeatureServiceDef d;
      d.name = Str(s->name());
      if (s->projections()) {
        for (const auto* p : *s->projections()) {
          d.projections.push_back({Str(p->view()), Strs(p->features())});
        }
      }
      d.description = Str(s->description());
      d.tags = DecodeTags(s->tags());
      d.owner = Str(s->owner());
      c.services.push_back(std::move(d));
    }
  }
  if (r->intervals()) {
    for (const auto* i : *r->intervals()) {
      c.intervals.push_back({Str(i->view()), i->start(), i->end()});
    }
  }
  if (r->unservable()) {
    for (const auto* u : *r->unservable()) {
      if (u->kind() < 1 || u->kind() > 2) return CorruptStore("invalid unservable kind");
      c.unservable.push_back(
          {static_cast<UnservableDef::Kind>(u->kind()), Str(u->name()), Str(u->reason())});
    }
  }
  c.repo_dir = Str(r->repo_dir());
  if (next_view_id) *next_view_id = r->next_view_id();
  return c;
}

}  // namespace larder
