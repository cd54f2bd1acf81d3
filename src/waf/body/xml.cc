// XML: libxml2 builds the tree as ModSecurity v2's msc_xml.c does (default options: no entity substitution,
// no DTD loading; and never the network or the file system), with a node cap. XML:/* is the text content of
// the root element, XML://@* the attribute values, gathered without recursion and within budgets.
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>

#include <climits>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "waf/body/body.h"

namespace bulwark::waf::body {
namespace {

// Internal entities can repeat content (billion laughs). Past this many bytes of text per body byte, or
// this many nodes visited inside entities per allowed node, the values are cut and the body flagged.
constexpr std::size_t kContentBytesPerBodyByte = 4;
constexpr std::size_t kContentSlackBytes = 64 * 1024;
constexpr std::size_t kEntityVisitsPerNode = 4;

// Never fetches anything: external entities, external DTD subsets, XInclude all resolve to nothing. It is
// installed process-wide, and the WAF is libxml2's only user in the gateway.
xmlParserInputPtr loadNoExternalEntity(const char* /*url*/, const char* /*id*/, xmlParserCtxtPtr /*ctxt*/) {
  return nullptr;
}

void initLibxml() {
  static std::once_flag once;
  std::call_once(once, [] {
    xmlInitParser();
    xmlSetExternalEntityLoader(loadNoExternalEntity);
  });
}

// Per parse, in ctxt->_private (which libxml2 leaves to its user): counts the nodes the tree builder
// creates, through the SAX callbacks it is made of, to stop the parser at the cap; keeps the first fatal
// error, which says more than the ones that follow from it.
struct ParseState {
  std::size_t nodes = 0;
  std::size_t maxNodes = 0;
  bool overLimit = false;
  std::string firstError;
  xmlSAXHandler tree;  // the default tree-building callbacks this wraps
};

ParseState& stateOf(void* ctx) {
  return *static_cast<ParseState*>(static_cast<xmlParserCtxtPtr>(ctx)->_private);
}

// Replaces libxml2's default of printing on stderr.
void keepFirstError(void* ctx, xmlErrorPtr error) {
  ParseState& state = stateOf(ctx);
  if (!state.firstError.empty() || error == nullptr || error->level != XML_ERR_FATAL) return;
  std::string_view message = error->message != nullptr ? error->message : "unknown error";
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.remove_suffix(1);
  state.firstError = "XML: Failed parsing document (line " + std::to_string(error->line) + "): ";
  state.firstError += message;
}

// Errors raised outside a parser context (character encoding conversion) go to libxml2's generic handler,
// which prints on stderr; the parse itself still fails and reports through its context.
void ignoreGenericError(void* /*ctx*/, const char* /*msg*/, ...) {}

// Swaps in ignoreGenericError for one parse. libxml2 keeps the handler per thread.
class QuietGenericErrors {
 public:
  QuietGenericErrors() : handler_(xmlGenericError), context_(xmlGenericErrorContext) {
    xmlSetGenericErrorFunc(nullptr, ignoreGenericError);
  }
  ~QuietGenericErrors() { xmlSetGenericErrorFunc(context_, handler_); }
  QuietGenericErrors(const QuietGenericErrors&) = delete;
  QuietGenericErrors& operator=(const QuietGenericErrors&) = delete;

 private:
  xmlGenericErrorFunc handler_;
  void* context_;
};

void countNodes(void* ctx, std::size_t n) {
  auto* ctxt = static_cast<xmlParserCtxtPtr>(ctx);
  ParseState& state = stateOf(ctx);
  state.nodes += n;
  // Every time, not once: the callback may come from the context libxml2 makes for an entity's content,
  // and stopping that one does not stop the document's.
  if (state.nodes > state.maxNodes) {
    state.overLimit = true;
    xmlStopParser(ctxt);
  }
}

void onStartElementNs(void* ctx, const xmlChar* localname, const xmlChar* prefix, const xmlChar* uri,
                      int nbNamespaces, const xmlChar** namespaces, int nbAttributes, int nbDefaulted,
                      const xmlChar** attributes) {
  stateOf(ctx).tree.startElementNs(ctx, localname, prefix, uri, nbNamespaces, namespaces, nbAttributes,
                                   nbDefaulted, attributes);
  countNodes(ctx, 1 + static_cast<std::size_t>(nbAttributes) + static_cast<std::size_t>(nbNamespaces));
}

void onComment(void* ctx, const xmlChar* value) {
  stateOf(ctx).tree.comment(ctx, value);
  countNodes(ctx, 1);
}

void onProcessingInstruction(void* ctx, const xmlChar* target, const xmlChar* data) {
  stateOf(ctx).tree.processingInstruction(ctx, target, data);
  countNodes(ctx, 1);
}

void onCdataBlock(void* ctx, const xmlChar* value, int len) {
  stateOf(ctx).tree.cdataBlock(ctx, value, len);
  countNodes(ctx, 1);
}

void onReference(void* ctx, const xmlChar* name) {
  stateOf(ctx).tree.reference(ctx, name);
  countNodes(ctx, 1);
}

struct ParserContextDeleter {
  void operator()(xmlParserCtxtPtr ctxt) const { xmlFreeParserCtxt(ctxt); }
};
struct DocDeleter {
  void operator()(xmlDocPtr doc) const { xmlFreeDoc(doc); }
};

// xmlNodeGetContent() as v2 applies it to each XPath result, without recursion. Text and CDATA count;
// internal entities contribute their replacement text (external ones are never loaded); comments and
// processing instructions do not. Only entities can make this cost more than the tree's size, so two
// budgets, shared by all the values of one body, bound it: bytes gathered, and nodes visited inside entity
// content.
class TextGatherer {
 public:
  TextGatherer(const xmlDoc* doc, std::size_t maxBytes, std::size_t maxEntityVisits)
      : doc_(doc), bytesLeft_(maxBytes), entityVisitsLeft_(maxEntityVisits) {}

  // The string value of an element: the text of its whole subtree. False if a budget cut it short.
  bool elementText(const xmlNode* element, std::string& out) {
    stack_.push_back({element, false});
    return drain(out);
  }

  // Attribute values of the document tree in document order (XPath //@*; entity content is not on the
  // descendant axis). False if a budget cut them short.
  bool allAttributeValues(const xmlNode* root, std::vector<std::string>& out) {
    std::vector<const xmlNode*> elements{root};
    while (!elements.empty()) {
      const xmlNode* n = elements.back();
      elements.pop_back();
      if (n->type != XML_ELEMENT_NODE) continue;
      for (const xmlAttr* a = n->properties; a != nullptr; a = a->next) {
        pushChildren(a->last, false);
        std::string value;
        bool complete = drain(value);
        out.push_back(std::move(value));
        if (!complete) return false;
      }
      for (const xmlNode* c = n->last; c != nullptr; c = c->prev) elements.push_back(c);
    }
    return true;
  }

 private:
  struct Pending {
    const xmlNode* node;
    bool inEntity;
  };

  void pushChildren(const xmlNode* last, bool inEntity) {
    for (const xmlNode* c = last; c != nullptr; c = c->prev) stack_.push_back({c, inEntity});
  }

  bool drain(std::string& out) {
    while (!stack_.empty()) {
      auto [n, inEntity] = stack_.back();
      stack_.pop_back();
      if (inEntity) {
        if (entityVisitsLeft_ == 0) {
          stack_.clear();
          return false;
        }
        --entityVisitsLeft_;
      }
      switch (n->type) {
        case XML_TEXT_NODE:
        case XML_CDATA_SECTION_NODE:
          if (n->content != nullptr) {
            std::string_view text = reinterpret_cast<const char*>(n->content);
            if (text.size() > bytesLeft_) {
              out.append(text.substr(0, bytesLeft_));
              bytesLeft_ = 0;
              stack_.clear();
              return false;
            }
            out.append(text);
            bytesLeft_ -= text.size();
          }
          break;
        case XML_ELEMENT_NODE:
          pushChildren(n->last, inEntity);
          break;
        case XML_ENTITY_REF_NODE: {
          const xmlEntity* ent = xmlGetDocEntity(doc_, n->name);
          if (ent != nullptr && ent->etype == XML_INTERNAL_GENERAL_ENTITY) pushChildren(ent->last, true);
          break;
        }
        default:
          break;
      }
    }
    return true;
  }

  const xmlDoc* doc_;
  std::size_t bytesLeft_;
  std::size_t entityVisitsLeft_;
  std::vector<Pending> stack_;
};

}  // namespace

void parseXml(std::string_view body, const Limits& limits, XmlResult& out) {
  out = XmlResult{};
  if (body.empty()) return;  // like v2: no data, no document, no error
  if (body.size() > static_cast<std::size_t>(INT_MAX)) {
    out.error = true;
    out.errorMsg = "XML: body too large";
    return;
  }
  initLibxml();
  QuietGenericErrors quiet;

  std::unique_ptr<xmlParserCtxt, ParserContextDeleter> ctxt(
      xmlCreateMemoryParserCtxt(body.data(), static_cast<int>(body.size())));
  if (!ctxt || ctxt->sax == nullptr) {
    out.error = true;
    out.errorMsg = "XML: Failed to create parsing context.";
    return;
  }
  // Deliberately not XML_PARSE_NOENT (substitute entities), XML_PARSE_DTDLOAD, XML_PARSE_DTDATTR,
  // XML_PARSE_DTDVALID, XML_PARSE_XINCLUDE or XML_PARSE_HUGE (which lifts libxml2's own size and depth caps).
  xmlCtxtUseOptions(ctxt.get(), XML_PARSE_NONET);

  ParseState state;
  state.maxNodes = limits.maxXmlNodes;
  state.tree = *ctxt->sax;
  ctxt->_private = &state;
  ctxt->sax->startElementNs = onStartElementNs;
  ctxt->sax->comment = onComment;
  ctxt->sax->processingInstruction = onProcessingInstruction;
  ctxt->sax->cdataBlock = onCdataBlock;
  ctxt->sax->reference = onReference;
  ctxt->sax->serror = keepFirstError;

  xmlParseDocument(ctxt.get());
  // The tree, complete or not: what was parsed before an error is still reported.
  std::unique_ptr<xmlDoc, DocDeleter> doc(ctxt->myDoc);
  ctxt->myDoc = nullptr;

  if (state.overLimit) {
    out.error = true;
    out.errorMsg = "XML: More than " + std::to_string(limits.maxXmlNodes) + " nodes";
  } else if (!ctxt->wellFormed) {
    out.error = true;
    out.errorMsg = state.firstError.empty() ? "XML: Failed parsing document." : state.firstError;
  }

  const xmlNode* root = doc ? xmlDocGetRootElement(doc.get()) : nullptr;
  if (root == nullptr) return;
  TextGatherer gatherer(doc.get(), body.size() * kContentBytesPerBodyByte + kContentSlackBytes,
                        limits.maxXmlNodes * kEntityVisitsPerNode);
  std::string content;
  bool complete = gatherer.elementText(root, content);
  out.values.push_back(std::move(content));
  complete = complete && gatherer.allAttributeValues(root, out.attributeValues);
  if (!complete && !out.error) {
    out.error = true;
    out.errorMsg = "XML: entity expansion exceeds the content budget";
  }
}

}  // namespace bulwark::waf::body
