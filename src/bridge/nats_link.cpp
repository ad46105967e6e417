// bridge/nats_link.cpp — the bridge's NATS connection (nats_link.hpp).
#include "nats_link.hpp"

#include <charconv>
#include <vector>

#include "subjects.hpp"

namespace courier::bridge {
namespace {

Error nats_error(std::string_view what, natsStatus s, jsErrCode jerr = static_cast<jsErrCode>(0)) {
  std::string m = std::string(what) + ": " + natsStatus_GetText(s);
  if (jerr != 0) m += " (JetStream error " + std::to_string(static_cast<int>(jerr)) + ")";
  const char* last = nats_GetLastError(nullptr);
  if (last != nullptr && *last != '\0' && m.find(last) == std::string::npos) m += std::string(": ") + last;
  return Error(Errc::system, std::move(m));
}

}  // namespace

std::string_view header(natsMsg* m, const char* key) noexcept {
  const char* v = nullptr;
  if (natsMsgHeader_Get(m, key, &v) != NATS_OK || v == nullptr) return {};
  return v;
}

std::uint64_t header_u64(natsMsg* m, const char* key, bool& ok) noexcept {
  const std::string_view v = header(m, key);
  std::uint64_t out = 0;
  const auto r = std::from_chars(v.data(), v.data() + v.size(), out);
  if (v.empty() || r.ec != std::errc{} || r.ptr != v.data() + v.size()) ok = false;
  return out;
}

Result<std::unique_ptr<NatsLink>> NatsLink::connect(const LinkOptions& o) {
  std::unique_ptr<NatsLink> l(new NatsLink(o));
  natsStatus s = natsOptions_Create(&l->opts_);
  if (s == NATS_OK) s = natsOptions_SetURL(l->opts_, o.url.c_str());
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(l->opts_, -1);  // a bridge outlives restarts of the server
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(l->opts_, 100);
  // A bridge (re)started while the server is down waits for it: Connect blocks, trying every 100 ms.
  if (s == NATS_OK) s = natsOptions_SetRetryOnFailedConnect(l->opts_, true, nullptr, nullptr);
  if (s == NATS_OK)
    s = natsOptions_SetReconnectBufSize(l->opts_, 0);  // no buffering while away: publish fails, we retry
  if (s != NATS_OK) return nats_error("NATS options", s);
  s = natsConnection_Connect(&l->nc_, l->opts_);
  if (s != NATS_OK) return nats_error("connecting to NATS at " + o.url, s);
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = 5000;  // ms: a publish waits this long for JetStream's ack
  s = natsConnection_JetStream(&l->js_, l->nc_, &jo);
  if (s != NATS_OK) return nats_error("JetStream context", s);
  jo.PublishAsync.ErrHandler = [](jsCtx*, jsPubAckErr*, void* link) {
    // relaxed: read after js_PublishAsyncComplete, which synchronises with cnats' thread
    static_cast<NatsLink*>(link)->async_failures_.fetch_add(1, std::memory_order_relaxed);
  };
  jo.PublishAsync.ErrHandlerClosure = l.get();
  s = natsConnection_JetStream(&l->async_js_, l->nc_, &jo);
  if (s != NATS_OK) return nats_error("JetStream context", s);
  if (auto r = l->ensure_stream(); !r) return std::move(r).error();
  s = natsConnection_SubscribeSync(&l->bell_, l->nc_, bell_subject(o.stream, o.host).c_str());
  if (s != NATS_OK) return nats_error("subscribing to the doorbell", s);
  return l;
}

NatsLink::~NatsLink() {
  // The connection closes first: Close joins cnats' reader thread, and only
  // then do we drop our references to the subscriptions. cnats 3.4's reader
  // looks a subscription up, lets go of the table's lock and then locks the
  // subscription without holding a reference to it: a subscription destroyed
  // (its last reference dropped) while a message for it came in was locked
  // after it was freed (a bridge stopped with status replies or doorbells
  // still arriving crashed in that thread, about 1 stop in 100 under ASan).
  // Closed first, each subscription keeps our reference until the reader is gone.
  if (nc_ != nullptr) natsConnection_Close(nc_);
  for (natsSubscription* s : subs_) natsSubscription_Destroy(s);  // durable consumers stay on the server
  if (bell_ != nullptr) natsSubscription_Destroy(bell_);
  if (origins_ != nullptr) kvStore_Destroy(origins_);
  if (js_ != nullptr) jsCtx_Destroy(js_);
  if (async_js_ != nullptr) jsCtx_Destroy(async_js_);
  if (nc_ != nullptr) natsConnection_Destroy(nc_);
  if (opts_ != nullptr) natsOptions_Destroy(opts_);
}

Result<void> NatsLink::ensure_stream() {
  const std::string name = stream_name(o_.stream);
  const std::string msgs = "courier." + o_.stream + ".msg.>";
  const std::string statuses = "courier." + o_.stream + ".status.>";
  const char* subjects[] = {msgs.c_str(), statuses.c_str()};
  jsStreamConfig sc;
  jsStreamConfig_Init(&sc);
  sc.Name = name.c_str();
  sc.Subjects = subjects;
  sc.SubjectsLen = 2;
  sc.Retention = js_WorkQueuePolicy;  // a message leaves the stream when its consumer acknowledges it
  sc.Storage = js_FileStorage;
  sc.Duplicates = o_.dedup_window.count();
  jsStreamInfo* si = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_AddStream(&si, js_, &sc, nullptr, &jerr);
  if (s == NATS_OK) {
    jsStreamInfo_Destroy(si);
    return {};
  }
  if (jerr == JSStreamNameExistErr) return {};  // made by another bridge, maybe with other limits: kept as it is
  return nats_error("creating the JetStream stream " + name, s, jerr);
}

Result<void> NatsLink::open_origins() {
  if (origins_ != nullptr) return {};
  const std::string bucket = origins_bucket(o_.stream, o_.host);
  natsStatus s = js_KeyValue(&origins_, js_, bucket.c_str());
  if (s == NATS_OK) return {};
  kvConfig kc;
  kvConfig_Init(&kc);
  kc.Bucket = bucket.c_str();
  kc.History = 1;
  kc.StorageType = js_FileStorage;
  s = js_CreateKeyValue(&origins_, js_, &kc);
  if (s != NATS_OK) {
    origins_ = nullptr;
    return nats_error("the JetStream key-value bucket " + bucket, s);
  }
  return {};
}

bool NatsLink::put_origins(const std::vector<std::pair<std::string, std::string>>& entries,
                           std::string& why) noexcept {
  // A key-value put is a JetStream publish to $KV.<bucket>.<key> (what kvStore_Put does).
  const std::string prefix = "$KV." + origins_bucket(o_.stream, o_.host) + ".";
  async_failures_.store(0, std::memory_order_relaxed);  // relaxed: no publish of ours is pending here
  natsStatus s = NATS_OK;
  for (const auto& [key, value] : entries) {
    s = js_PublishAsync(async_js_, (prefix + key).c_str(), value.data(), static_cast<int>(value.size()), nullptr);
    if (s != NATS_OK) break;
  }
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = 5000;  // ms
  const natsStatus done = js_PublishAsyncComplete(async_js_, &po);
  if (done != NATS_OK) {  // not all acked in time: drop what is still pending (put again with the message)
    natsMsgList left{};
    if (js_PublishAsyncGetPendingList(&left, async_js_) == NATS_OK) natsMsgList_Destroy(&left);
  }
  if (s == NATS_OK) s = done;
  if (s != NATS_OK) {
    why = nats_error("storing origins", s).message;
    return false;
  }
  if (const auto failed = async_failures_.load(std::memory_order_relaxed); failed != 0) {
    why = "storing origins: JetStream refused " + std::to_string(failed);
    return false;
  }
  return true;
}

bool NatsLink::forget_origin(const std::string& key) noexcept {
  if (kvStore_Delete(origins_, key.c_str()) != NATS_OK) return false;
  // A delete leaves a marker in the bucket's stream: purge them now and then (and at start).
  if (++forgotten_ % 4096 == 0) (void)scan_origins(nullptr);
  return true;
}

// Not kvStore_PurgeDeletes: cnats 3.4 leaks every live entry its watcher
// returns (only the markers are destroyed), and each leaked entry holds the
// bucket, the JetStream context and the connection (LeakSanitizer at exit,
// one entry per origin stored at each call).
natsStatus NatsLink::scan_origins(std::vector<std::pair<std::string, std::string>>* live) noexcept {
  kvWatchOptions wo;
  kvWatchOptions_Init(&wo);
  wo.MetaOnly = live == nullptr;  // the values only when asked for
  kvWatcher* w = nullptr;
  natsStatus s = kvStore_WatchAll(&w, origins_, &wo);
  if (s != NATS_OK) return s;
  const std::string stream = "KV_" + origins_bucket(o_.stream, o_.host);
  const std::string prefix = "$KV." + origins_bucket(o_.stream, o_.host) + ".";
  while (s == NATS_OK) {
    kvEntry* e = nullptr;
    s = kvWatcher_Next(&e, w, 5000);  // ms; a NULL entry: every key seen
    if (s != NATS_OK || e == nullptr) break;
    const kvOperation op = kvEntry_Operation(e);
    if (op == kvOp_Delete || op == kvOp_Purge) {
      // The marker is the key's last message: purging its subject leaves nothing of the key.
      const std::string subject = prefix + kvEntry_Key(e);
      jsOptions po;
      jsOptions_Init(&po);
      po.Stream.Purge.Subject = subject.c_str();
      s = js_PurgeStream(js_, stream.c_str(), &po, nullptr);
    } else if (live != nullptr && kvEntry_ValueLen(e) > 0) {
      live->emplace_back(kvEntry_Key(e), std::string(static_cast<const char*>(kvEntry_Value(e)),
                                                     static_cast<std::size_t>(kvEntry_ValueLen(e))));
    }
    kvEntry_Destroy(e);
  }
  kvWatcher_Destroy(w);
  return s;
}

Result<std::vector<std::pair<std::string, std::string>>> NatsLink::origins() {
  std::vector<std::pair<std::string, std::string>> out;
  if (const natsStatus s = scan_origins(&out); s != NATS_OK) return nats_error("reading the origins", s);
  return out;
}

Published NatsLink::publish(natsMsg* m, std::string& why) noexcept {
  jsPubAck* pa = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  const natsStatus s = js_PublishMsg(&pa, js_, m, nullptr, &jerr);
  if (s == NATS_OK) {
    const bool dup = pa != nullptr && pa->Duplicate;
    jsPubAck_Destroy(pa);
    return dup ? Published::duplicate : Published::ok;
  }
  if (s == NATS_MAX_PAYLOAD) return Published::too_large;
  why = nats_error("publishing to JetStream", s, jerr).message;
  return Published::failed;
}

void NatsLink::ring(std::string_view host) noexcept {
  (void)natsConnection_Publish(nc_, bell_subject(o_.stream, host).c_str(), nullptr, 0);  // a hint: loss costs a wait
}

void NatsLink::wait_ring(std::chrono::milliseconds timeout) noexcept {
  natsMsg* m = nullptr;
  if (natsSubscription_NextMsg(&m, bell_, timeout.count()) != NATS_OK) return;
  natsMsg_Destroy(m);
  while (natsSubscription_NextMsg(&m, bell_, 0) == NATS_OK) natsMsg_Destroy(m);
}

Result<natsSubscription*> NatsLink::pull(const std::string& subject, const std::string& durable) {
  const std::string stream = stream_name(o_.stream);
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = stream.c_str();
  so.Config.AckPolicy = js_AckExplicit;
  so.Config.AckWait = o_.ack_wait.count();
  so.Config.MaxDeliver = -1;  // never given up: the bridge ends each message (expired, error or delivered)
  so.Config.MaxAckPending = 4096;
  natsSubscription* sub = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  const natsStatus s = js_PullSubscribe(&sub, js_, subject.c_str(), durable.c_str(), nullptr, &so, &jerr);
  if (s != NATS_OK) return nats_error("pull consumer " + durable + " on " + subject, s, jerr);
  subs_.push_back(sub);
  return sub;
}

int NatsLink::fetch(natsSubscription* sub, int batch, natsMsgList& out) noexcept {
  out = {};
  jsFetchRequest req;
  jsFetchRequest_Init(&req);
  req.Batch = batch;
  req.NoWait = true;  // the server answers at once: what waits, or "none"
  // cnats takes Expires as its own bound on the wait for that answer: with 0
  // it often gave up before the messages came (measured: empty fetches with
  // messages waiting).
  req.Expires = 5'000'000;  // ns
  if (natsSubscription_FetchRequest(&out, sub, &req) != NATS_OK) {
    natsMsgList_Destroy(&out);
    out = {};
    return 0;
  }
  return out.Count;
}

}  // namespace courier::bridge
