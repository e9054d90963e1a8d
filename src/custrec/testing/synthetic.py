"""Labelled synthetic customers with realistic duplicates, for measuring duplicate detection.

:func:`labelled_customers` streams raw customer mappings (what a web form, a CSV import or an API
client hands to :func:`custrec.validation.parse_customer`), each labelled with the ground-truth
entity it describes and the perturbation that produced it. :func:`pair_metrics` scores a
clustering of those records against the labels (pairwise precision, recall and F1).

>>> records = list(labelled_customers(2_000, seed=7))
>>> len(records), records[0].variant
(2000, 'original')
>>> records == list(labelled_customers(2_000, seed=7))
True
>>> truth = {str(i): r.entity for i, r in enumerate(records)}
>>> by_entity = {}
>>> for record_id, entity in truth.items():
...     by_entity.setdefault(entity, []).append(record_id)
>>> pair_metrics(by_entity.values(), truth).f1
1.0

Record ids are the caller's choice (above: the position in the stream); the generator labels
entities ``E0000001``, ``E0000002``, ... in order of their first record.

Data model
----------
Entities are generated one at a time; about 70% are individuals and 30% organisations. Every
record carries a valid Chinese mobile phone (13x/15x/17x/18x/19x), so the
``contact.channel_required`` rule is always met, and every mapping parses without any issue.

*Individuals* get a Chinese name drawn from frequency-weighted surname and given-name lists (the
most common names are very common: a 100,000-record set holds many distinct 张伟, 王芳 or 李娜
in the same city), written in pinyin (``"Zhang Wei"``, sometimes ``"Wei Zhang"``) for about 15%.
About 60% have a gender, 40% a birth date, 60% an e-mail address (pinyin local part with digits,
or a numeric QQ address, at common domains), 80% a home address (province, city, district,
``人民路128号`` style street with an optional ``3栋2单元1502室`` detail, sometimes a postal code)
and 20% a valid resident ID (``CN-RIC``) consistent with the gender and birth date.

*Organisations* are named ``[region] + core + trade + legal form`` (``北京华信科技有限公司``),
sometimes with the region in brackets (``华信科技（北京）有限公司``) or without a region; 70% have
a valid unified social credit code (``CN-USCC``); every one has an industry, a registered address
and a primary contact with a name, (80%) a title, a mobile phone and (75%) an e-mail address at
the company's domain or a common one; half name a legal representative. Legal forms are
有限公司 (55%), 有限责任公司 (25%) and 股份有限公司 (20%, and every bank).

*Hard negatives* (distinct entities that look alike) are produced on purpose: common names
repeat naturally, and besides about 8% of individuals reuse the name and city of a recent
individual, 3% share the home address of a recent individual (a family member, often with the
same surname), 20% of organisations reuse the core, trade and legal form of a recent
organisation in a *different* city (``北京华信银行股份有限公司`` vs ``上海华信银行股份有限公司``)
and 5% share the office building of a recent organisation. A name reused on purpose never
repeats within a city; accidental repeats of a whole organisation name in one city (two random
cores that collide) are rare, about 7 pairs per 100,000 records. Distinct entities practically
never share a phone, an e-mail address or an identifier.

Duplicates
----------
About ``duplicate_share`` of the records are extra copies of an entity already emitted: a
duplicated entity gets 1 (60%), 2 (28%) or 3 (12%) copies, each emitted 1 to ``window`` records
after the original (about one copy in eight comes right after it). Each copy applies one (60%) or
two (40%) perturbations, drawn with these relative weights among those that apply to the entity;
``share`` is the measured share of all copies (at the defaults) that carry the perturbation:

===============  ======  =====  ===============================================================
variant          weight  share  what changes
===============  ======  =====  ===============================================================
typo             3       39%    one character of the name: a similar-sounding or -looking
                                character in a Chinese given name or organisation core (伟 →
                                玮), a substituted, deleted or transposed pinyin letter
swapped_name     3       4%     pinyin name order (``Zhang Wei`` → ``Wei Zhang``); pinyin
                                names only (about a quarter of their copies)
full_width       2       28%    full-width digits in the phone (``１３８…``) or the street
                                number, or full-width letters in a pinyin name
legal_form       3       10%    organisations only (about a third of their copies): 有限公司 ↔
                                有限责任公司, the legal form dropped, 股份有限公司 → 股份公司,
                                or the region moved into or out of brackets
changed_phone    2.5     30%    a new phone number; of the e-mail and the identifier at most
                                one is kept (neither, about half the time, when an address
                                remains); for organisations the contact person is sometimes
                                replaced too
email_case       1.5     12%    the e-mail upper-cased, capitalised, or dropped
address          1.5     17%    district, province or postal code dropped, spaces in the street
                                (``人民路 128号``), or (rarely) the whole address dropped
===============  ======  =====  ===============================================================

A copy's ``variant`` names its perturbations joined by ``+`` in the order above
(``"typo+changed_phone"``); originals are ``"original"``. Phone formatting (spaces, hyphens,
``+86``) varies freely between records: it normalises away and is not a perturbation.

Every copy stays detectable by a careful human: any two records of one entity (original and
copies alike) share a phone, an e-mail (up to case), an identifier, or the same street in the same
city, and their names differ by at most the perturbations above. About one copy in six shares
*no* strong identifier (phone, e-mail, RIC, USCC) with the original: finding those needs fuzzy
name and address evidence.

Generation is streaming: memory is bounded by the duplicate window and a few small buffers of
recent entities, not by ``n``. Output depends only on the arguments (one private
``random.Random(seed)``; no global state).
"""

from __future__ import annotations

import heapq
import random
from bisect import bisect
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, timedelta
from itertools import accumulate, pairwise
from typing import Any, Final, TypeVar

import attrs

from custrec.validation import ric, uscc

__all__ = ["VARIANTS", "LabelledRecord", "PairMetrics", "labelled_customers", "pair_metrics"]

_T = TypeVar("_T")

VARIANTS: Final = (
    "original",
    "typo",
    "swapped_name",
    "full_width",
    "legal_form",
    "changed_phone",
    "email_case",
    "address",
)
"""Every perturbation name a :attr:`LabelledRecord.variant` may contain."""


@attrs.frozen
class LabelledRecord:
    """One synthetic record: a raw mapping and its ground truth.

    ``entity`` is the id of the real-world customer the record describes (records of one entity
    are duplicates of each other); ``data`` is a raw mapping that
    :func:`custrec.validation.parse_customer` accepts without any issue; ``variant`` is
    ``"original"`` for an entity's first record, otherwise the perturbations that produced the
    copy joined by ``+`` (see :data:`VARIANTS`).
    """

    entity: str
    data: dict[str, Any]
    variant: str


# ------------------------------------------------------------------------------------- tables


class _Weighted:
    """Items with cumulative weights, for fast weighted draws."""

    __slots__ = ("cum", "items")

    def __init__(self, pairs: Iterable[tuple[Any, float]]) -> None:
        pairs = list(pairs)
        self.items = [item for item, _ in pairs]
        self.cum = list(accumulate(weight for _, weight in pairs))

    def draw(self, rng: random.Random) -> Any:
        return self.items[bisect(self.cum, rng.random() * self.cum[-1])]


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _pairs(text: str) -> dict[str, str]:
    """Parse ``"字:value 字:value"`` into a dict."""
    return dict(item.split(":") for item in text.split())


_PINYIN: Final = _pairs(
    # surnames
    "王:wang 李:li 张:zhang 刘:liu 陈:chen 杨:yang 黄:huang 赵:zhao 吴:wu 周:zhou 徐:xu 孙:sun "
    "马:ma 朱:zhu 胡:hu 郭:guo 何:he 高:gao 林:lin 罗:luo 郑:zheng 梁:liang 谢:xie 宋:song "
    "唐:tang 许:xu 韩:han 冯:feng 邓:deng 曹:cao 彭:peng 曾:zeng 肖:xiao 田:tian 董:dong "
    "袁:yuan 潘:pan 于:yu 蒋:jiang 蔡:cai 余:yu 杜:du 叶:ye 程:cheng 苏:su 魏:wei 吕:lv 丁:ding "
    "任:ren 沈:shen 姚:yao 卢:lu 姜:jiang 崔:cui 钟:zhong 谭:tan 陆:lu 汪:wang 范:fan 金:jin "
    "石:shi 廖:liao 贾:jia 夏:xia 韦:wei 付:fu 方:fang 白:bai 邹:zou 孟:meng 熊:xiong 秦:qin "
    "邱:qiu 江:jiang 尹:yin 薛:xue 闫:yan 段:duan 雷:lei 侯:hou 龙:long 史:shi 陶:tao 黎:li "
    "贺:he 顾:gu 毛:mao 郝:hao 龚:gong 邵:shao 万:wan 钱:qian 严:yan 武:wu 戴:dai 欧阳:ouyang "
    "司马:sima 上官:shangguan "
    # given-name characters
    "伟:wei 强:qiang 磊:lei 军:jun 洋:yang 勇:yong 杰:jie 涛:tao 明:ming 超:chao 刚:gang "
    "平:ping 辉:hui 鹏:peng 华:hua 飞:fei 鑫:xin 波:bo 斌:bin 宇:yu 浩:hao 凯:kai 健:jian "
    "俊:jun 帆:fan 帅:shuai 旭:xu 宁:ning 建:jian 国:guo 志:zhi 海:hai 东:dong 文:wen 博:bo "
    "轩:xuan 然:ran 家:jia 豪:hao 德:de 永:yong 兴:xing 成:cheng 振:zhen 峰:feng 毅:yi "
    "晨:chen 阳:yang 子:zi 小:xiao 芳:fang 娜:na 敏:min 静:jing 丽:li 艳:yan 娟:juan 霞:xia "
    "秀:xiu 英:ying 兰:lan 玉:yu 丹:dan 萍:ping 红:hong 玲:ling 婷:ting 雪:xue 琳:lin "
    "颖:ying 倩:qian 慧:hui 佳:jia 欣:xin 悦:yue 晶:jing 莉:li 燕:yan 梅:mei 洁:jie 珍:zhen "
    "桂:gui 晓:xiao 怡:yi 涵:han 诗:shi 雨:yu 思:si 雅:ya 琪:qi 美:mei 春:chun 月:yue "
    "媛:yuan 蕾:lei 薇:wei 一:yi 诺:nuo 梓:zi "
    # organisation core characters
    "信:xin 达:da 恒:heng 通:tong 远:yuan 天:tian 润:run 宏:hong 盛:sheng 泰:tai 安:an "
    "诚:cheng 瑞:rui 丰:feng 元:yuan 新:xin 凯:kai 嘉:jia 汇:hui 创:chuang 智:zhi 云:yun "
    "星:xing 辰:chen 中:zhong 长:chang 联:lian 合:he 顺:shun 腾:teng 讯:xun 世:shi 纪:ji "
    "亿:yi 百:bai 卓:zhuo 越:yue 启:qi 光:guang 正:zheng 康:kang 乐:le 立:li 科:ke 微:wei "
    "锦:jin 昊:hao 鼎:ding 荣:rong 融:rong 祥:xiang 和:he 富:fu 裕:yu 佰:bai 驰:chi "
    "骏:jun 钧:jun 睿:rui 力:li 铭:ming 泽:ze 洲:zhou 源:yuan 坤:kun 乾:qian 晟:sheng "
    "易:yi 优:you 捷:jie 思:si 维:wei 朗:lang 拓:tuo 宸:chen 领:ling 先:xian 华:hua 金:jin"
)
"""Pinyin (toneless, lower case) of every character and compound surname used in names."""

_SURNAMES: Final = _Weighted(
    (surname, float(weight))
    for surname, weight in _pairs(
        "王:710 李:700 张:670 刘:540 陈:450 杨:310 黄:220 赵:200 吴:190 周:190 徐:130 孙:120 "
        "马:110 朱:110 胡:100 郭:100 何:90 高:90 林:90 罗:90 郑:80 梁:80 谢:60 宋:60 唐:50 "
        "许:50 韩:50 冯:50 邓:50 曹:50 彭:40 曾:40 肖:40 田:40 董:40 袁:40 潘:30 于:30 蒋:30 "
        "蔡:30 余:30 杜:30 叶:30 程:30 苏:30 魏:30 吕:30 丁:30 任:30 沈:30 姚:20 卢:20 姜:20 "
        "崔:20 钟:20 谭:20 陆:20 汪:20 范:20 金:20 石:20 廖:20 贾:20 夏:20 韦:20 付:20 方:20 "
        "白:20 邹:20 孟:20 熊:20 秦:20 邱:20 江:20 尹:20 薛:20 闫:20 段:20 雷:20 侯:20 龙:20 "
        "史:20 陶:20 黎:20 贺:20 顾:20 毛:20 郝:20 龚:20 邵:20 万:20 钱:20 严:20 武:20 戴:20 "
        "欧阳:5 司马:2 上官:1"
    ).items()
)
"""Surnames with their approximate share of the population (per 10,000)."""


def _zipf(names: str) -> _Weighted:
    """Names listed from most to least common, with Zipf-like weights."""
    return _Weighted((name, 1.0 / (rank + 1) ** 0.8) for rank, name in enumerate(names.split()))


_COMMON_GIVEN: Final = {
    True: _zipf(
        "伟 强 磊 军 洋 勇 杰 涛 明 超 刚 平 辉 鹏 华 飞 鑫 波 斌 宇 浩 凯 健 俊 帆 帅 旭 宁 "
        "建华 建国 建军 志强 志明 海涛 晓东 文博 子轩 浩然 宇轩 俊杰 国强 建平 永强 家豪 "
        "小龙 国华 德明"
    ),
    False: _zipf(
        "芳 娜 敏 静 丽 艳 娟 霞 秀英 秀兰 桂英 玉兰 丹 萍 红 玲 婷 雪 琳 颖 倩 慧 佳 欣 "
        "悦 晶 莉 燕 梅 洁 秀珍 桂兰 玉梅 丽娟 晓燕 海燕 婷婷 欣怡 梓涵 诗涵 雨涵 子涵 "
        "思雨 一诺 佳怡 雅琪 静怡 丽华 美玲 春梅"
    ),
}
"""The most common full given names per gender (``True``: male)."""

_GIVEN_CHARS: Final = {
    True: tuple(
        "伟强磊军洋勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆帅旭宁建国志海东文博轩然家豪德永兴成"
        "振峰毅晨阳子小"
    ),
    False: tuple(
        "芳娜敏静丽艳娟霞秀英兰玉丹萍红玲婷雪琳颖倩慧佳欣悦晶莉燕梅洁珍桂晓怡涵诗雨思雅琪美春"
        "月媛蕾薇一诺梓"
    ),
}
"""Characters for the long tail of given names, per gender."""

_CORE_CHARS: Final = tuple(
    "华信鑫达恒通博远天润宏兴盛泰安诚瑞丰元德海新金龙凯嘉汇创智云星辰中长东方联合顺腾讯世纪"
    "亿美百卓越启明光正永康宇乐立科微锦昊鼎荣融祥和富裕佰驰骏钧睿力铭泽洲源坤乾晟易优捷思维"
    "朗拓宸领先"
)
"""Characters of organisation name cores (``华信``, ``恒通瑞``)."""

_SIMILAR: Final = _pairs(
    # given-name characters: same or close pinyin, or a similar shape
    "伟:玮炜维 强:墙蔷 磊:垒蕾 军:君均 洋:阳扬 勇:永涌 杰:洁捷 涛:滔焘 明:铭鸣 超:潮朝 "
    "刚:钢岗 平:萍坪 辉:晖挥 鹏:朋彭 华:桦骅 飞:非菲 鑫:新欣 波:博泊 斌:彬宾 宇:雨羽 "
    "浩:皓昊 凯:铠楷 健:建键 俊:骏峻 帆:凡繁 帅:率 旭:序煦 宁:凝柠 龙:隆珑 林:琳霖 "
    "建:健剑 国:帼果 志:智治 海:还孩 东:冬栋 文:雯闻 博:波搏 轩:宣萱 然:燃冉 家:佳嘉 "
    "豪:浩毫 德:得 永:勇咏 兴:星新 成:诚城 振:震镇 峰:锋丰 毅:义艺 晨:辰臣 阳:洋扬 "
    "子:紫梓 小:晓筱 芳:方芬 娜:那纳 敏:民闽 静:婧晶 丽:莉俐 艳:燕彦 娟:鹃涓 霞:侠夏 "
    "秀:绣琇 英:瑛莹 兰:岚蓝 玉:钰 丹:单旦 萍:平苹 红:宏虹 玲:琳铃 婷:亭停 雪:学 琳:林霖 "
    "颖:莹影 倩:茜芊 慧:惠蕙 佳:家嘉 欣:新馨 悦:月越 晶:静菁 莉:丽俐 燕:艳雁 梅:玫媚 "
    "洁:杰婕 珍:真贞 桂:贵 晓:小筱 怡:仪宜 涵:含寒 诗:师 雨:语宇 思:斯丝 雅:亚娅 琪:祺棋 "
    "美:梅媚 春:纯椿 月:悦玥 媛:缘源 蕾:磊雷 薇:微维 一:依亦 诺:糯 梓:子紫 "
    # organisation core characters
    "信:讯新 达:大 恒:衡横 通:同桐 远:源园 天:添田 润:闰 宏:弘红 盛:胜晟 泰:太 安:按岸 "
    "诚:成城 瑞:锐睿 丰:峰风 元:源园 德:得 新:鑫欣 金:今锦 嘉:佳家 汇:会慧 创:闯 "
    "智:志知 云:运芸 星:兴醒 辰:晨臣 中:忠众 长:常昌 方:芳放 联:连莲 合:和河 顺:舜 "
    "腾:藤滕 讯:迅信 世:事市 纪:记际 亿:忆艺 美:梅 百:佰白 卓:桌 越:悦跃 启:起企 "
    "光:广 正:政证 康:慷 乐:了 立:力利 科:可克 微:维薇 锦:金 昊:浩皓 鼎:顶 荣:容融 "
    "融:荣容 祥:翔 和:合河 富:福 裕:誉 佰:百 驰:弛 骏:俊峻 钧:均 睿:瑞锐 力:立利 "
    "铭:明鸣 泽:择 洲:州舟 源:远元 坤:昆 乾:前 晟:盛 易:亿益 优:尤 捷:杰 思:斯 维:伟微 "
    "朗:郎 拓:托 宸:晨辰 领:岭 先:鲜"
)
"""Typo table: characters that are easily typed (pinyin input) or read in place of another."""

# Relative to the legal forms: (legal form, weight).
_LEGAL_FORMS: Final = _Weighted(
    (("有限公司", 55.0), ("有限责任公司", 25.0), ("股份有限公司", 20.0))
)
_LLC: Final = ("有限公司", "有限责任公司")

# (trade word in the name, industry, weight)
_TRADES: Final = _Weighted(
    ((word, industry), weight)
    for word, industry, weight in (
        ("科技", "软件和信息技术服务", 14.0),
        ("信息技术", "软件和信息技术服务", 6.0),
        ("网络科技", "互联网", 6.0),
        ("电子商务", "互联网", 3.0),
        ("贸易", "批发和零售", 9.0),
        ("商贸", "批发和零售", 6.0),
        ("实业", "制造业", 5.0),
        ("机械设备", "制造业", 4.0),
        ("电子", "制造业", 4.0),
        ("建筑工程", "建筑业", 4.0),
        ("食品", "食品制造", 3.0),
        ("医药", "医药", 3.0),
        ("生物科技", "医药", 2.0),
        ("物流", "交通运输和物流", 4.0),
        ("文化传媒", "文化和传媒", 4.0),
        ("餐饮管理", "住宿和餐饮", 3.0),
        ("房地产开发", "房地产", 2.0),
        ("企业管理咨询", "商务服务", 4.0),
        ("教育科技", "教育", 3.0),
        ("新能源", "能源", 2.0),
        ("汽车销售", "批发和零售", 2.0),
        ("环保科技", "环保", 2.0),
        ("银行", "金融", 1.0),
    )
)


@attrs.frozen
class _City:
    province: str
    name: str
    short: str  # the form used in organisation names
    abbrev: str  # pinyin initials, for e-mail domains
    postal_prefix: str
    districts: tuple[tuple[str, str], ...]  # (district, six-digit division code)


def _cities(table: str) -> _Weighted:
    """Parse lines of ``province city abbrev postal-prefix weight district:code ...``."""
    rows = []
    for line in table.strip().splitlines():
        province, name, abbrev, postal, weight, *districts = line.split()
        parsed = tuple((d, code) for d, code in (item.split(":") for item in districts))
        city = _City(province, name, name.removesuffix("市"), abbrev, postal, parsed)
        rows.append((city, float(weight)))
    return _Weighted(rows)


_CITIES: Final = _cities(
    """
北京市 北京市 bj 100 12 东城区:110101 西城区:110102 朝阳区:110105 丰台区:110106 海淀区:110108
上海市 上海市 sh 200 11 黄浦区:310101 徐汇区:310104 长宁区:310105 静安区:310106 浦东新区:310115
广东省 广州市 gz 510 8 越秀区:440104 海珠区:440105 天河区:440106 白云区:440111 番禺区:440113
广东省 深圳市 sz 518 8 罗湖区:440303 福田区:440304 南山区:440305 宝安区:440306 龙岗区:440307
浙江省 杭州市 hz 310 6 上城区:330102 拱墅区:330105 西湖区:330106 滨江区:330108 余杭区:330110
四川省 成都市 cd 610 6 锦江区:510104 青羊区:510105 金牛区:510106 武侯区:510107 成华区:510108
江苏省 南京市 nj 210 5 玄武区:320102 秦淮区:320104 建邺区:320105 鼓楼区:320106
湖北省 武汉市 wh 430 5 江岸区:420102 汉阳区:420105 武昌区:420106 洪山区:420111
重庆市 重庆市 cq 400 5 渝中区:500103 江北区:500105 南岸区:500108 渝北区:500112
江苏省 苏州市 su 215 4 虎丘区:320505 吴中区:320506 相城区:320507 姑苏区:320508
天津市 天津市 tj 300 4 和平区:120101 河西区:120103 南开区:120104 滨海新区:120116
陕西省 西安市 xa 710 4 新城区:610102 碑林区:610103 未央区:610112 雁塔区:610113
湖南省 长沙市 cs 410 3 芙蓉区:430102 天心区:430103 岳麓区:430104 开福区:430105
山东省 青岛市 qd 266 3 市南区:370202 市北区:370203 黄岛区:370211 崂山区:370212
山东省 济南市 jn 250 3 历下区:370102 市中区:370103 槐荫区:370104
河南省 郑州市 zz 450 3 中原区:410102 二七区:410103 金水区:410105
福建省 厦门市 xm 361 2 思明区:350203 湖里区:350206 集美区:350211
辽宁省 沈阳市 sy 110 2 和平区:210102 沈河区:210103 皇姑区:210105
安徽省 合肥市 hf 230 2 庐阳区:340103 蜀山区:340104 包河区:340111
云南省 昆明市 km 650 2 五华区:530102 盘龙区:530103 官渡区:530111
"""
)
"""Cities (weighted by how often customers live there) with districts and division codes."""

_ROAD_STEMS: Final = _words(
    "人民 中山 解放 建设 和平 长江 黄河 新华 文化 胜利 光明 朝阳 青年 南京 北京 延安 复兴 "
    "学府 科技 创业 工业 滨江 湖滨 东风 五一 花园 幸福 民主 团结 友谊 振兴 迎宾 体育 环城 "
    "金融 商业 育才 长安 世纪 高新"
)
_ROAD_DIRECTIONS: Final = _Weighted(
    (("", 75.0), ("东", 6.0), ("西", 6.0), ("南", 6.0), ("北", 5.0), ("中", 2.0))
)
_ROAD_KINDS: Final = _Weighted((("路", 70.0), ("街", 20.0), ("大道", 10.0)))

_MOBILE_PREFIXES: Final = _Weighted(
    [(str(p), 5.0) for p in range(130, 140)]
    + [(str(p), 4.0) for p in (150, 151, 152, 153, 155, 156, 157, 158, 159)]
    + [(str(p), 4.0) for p in range(180, 190)]
    + [(str(p), 1.0) for p in (166, 173, 175, 176, 177, 178, 191, 198, 199)]
)
_PHONE_STYLES: Final = _Weighted(((0, 70.0), (1, 10.0), (2, 10.0), (3, 5.0), (4, 5.0)))
"""How phones are written: plain, spaced, hyphenated, ``+86`` spaced, ``+86`` compact."""
_MAIL_DOMAINS: Final = _Weighted(
    (
        ("163.com", 20.0),
        ("126.com", 10.0),
        ("qq.com", 14.0),
        ("sina.com", 6.0),
        ("sohu.com", 3.0),
        ("gmail.com", 6.0),
        ("outlook.com", 5.0),
        ("hotmail.com", 4.0),
        ("foxmail.com", 5.0),
        ("139.com", 4.0),
        ("yeah.net", 2.0),
        ("aliyun.com", 2.0),
    )
)
_TITLES: Final = (
    "总经理", "副总经理", "采购经理", "采购专员", "销售总监", "财务经理", "行政主管", "技术总监",
    "项目经理", "法务专员", "总经理助理", "IT经理",
)  # fmt: skip
_SOURCES: Final = ("website", "referral", "exhibition", "cold_call", "wechat", "partner", "store")
_BANDS: Final = ("1-9", "10-49", "50-249", "250-999", "1000+")
_QWERTY_NEIGHBOURS: Final = _pairs(
    "a:qsz b:vn c:xv d:sf e:wr f:dg g:fh h:gj i:uo j:hk k:jl l:k m:n n:bm o:ip p:o q:wa r:et "
    "s:ad t:ry u:yi v:cb w:qe x:zc y:tu z:x"
)

# Perturbations, in label order, with their base weights.
_PERTURBATIONS: Final = (
    ("typo", 3.0),
    ("swapped_name", 3.0),
    ("full_width", 2.0),
    ("legal_form", 3.0),
    ("changed_phone", 2.5),
    ("email_case", 1.5),
    ("address", 1.5),
)
_COPY_COUNTS: Final = _Weighted(((1, 0.60), (2, 0.28), (3, 0.12)))
_MEAN_COPIES: Final = 0.60 * 1 + 0.28 * 2 + 0.12 * 3
_MAX_SHARE: Final = 0.6
_ADJACENT: Final = 0.15
_RECENT: Final = 256
_ATTEMPTS: Final = 25

_FULL_WIDTH: Final = {code: code + 0xFEE0 for code in range(0x21, 0x7F)} | {0x20: 0x3000}
_FULL_WIDTH_DIGITS: Final = {code: code + 0xFEE0 for code in range(0x30, 0x3A)}


def _full_width(text: str) -> str:
    return text.translate(_FULL_WIDTH)


# ---------------------------------------------------------------------------- internal model


@attrs.frozen
class _Person:
    """A person's name in characters and pinyin; ``male`` drives gender and the RIC."""

    surname: str
    given: str
    male: bool

    @property
    def surname_pinyin(self) -> str:
        return _PINYIN[self.surname]

    @property
    def given_pinyin(self) -> str:
        return "".join(_PINYIN[ch] for ch in self.given)

    @property
    def hanzi(self) -> str:
        return self.surname + self.given


@attrs.frozen
class _PersonName:
    """An individual's name as written: characters, or pinyin (``latin``) in some order."""

    surname: str
    given: str
    latin: bool
    given_first: bool = False
    full_width: bool = False

    def render(self) -> str:
        if not self.latin:
            return self.surname + self.given
        parts = (self.given, self.surname) if self.given_first else (self.surname, self.given)
        text = " ".join(parts)
        return _full_width(text) if self.full_width else text


@attrs.frozen
class _OrgName:
    """An organisation name: ``region core trade legal`` or ``core trade（region）legal``."""

    region: str | None
    core: str
    trade: str
    legal: str
    bracketed: bool

    def render(self) -> str:
        body = self.core + self.trade
        if self.region is None:
            return body + self.legal
        if self.bracketed:
            return f"{body}（{self.region}）{self.legal}"
        return self.region + body + self.legal


@attrs.define
class _OrgStem:
    """A recent organisation's name without its region, and the cities that already use it."""

    core: str
    trade: tuple[str, str]  # (word in the name, industry)
    legal: str
    cities: set[str]


@attrs.frozen
class _Address:
    kind: str
    province: str | None
    city: str
    district: str | None
    road: str
    number: int
    detail: str
    postal_code: str | None
    spaced: bool = False
    full_width: bool = False

    @property
    def street_key(self) -> str:
        """The street as compared across records: spacing and digit width ignored."""
        return f"{self.road}{self.number}号{self.detail}"

    def render(self) -> dict[str, Any]:
        sep = " " if self.spaced else ""
        street = f"{self.road}{sep}{self.number}号"
        if self.detail:
            street += sep + self.detail
        if self.full_width:
            street = street.translate(_FULL_WIDTH_DIGITS)
        out: dict[str, Any] = {"kind": self.kind, "country": "CN"}
        if self.province is not None:
            out["province"] = self.province
        out["city"] = self.city
        if self.district is not None:
            out["district"] = self.district
        out["street"] = street
        if self.postal_code is not None:
            out["postal_code"] = self.postal_code
        return out


@attrs.frozen
class _Draft:
    """One record of an entity, before rendering; copies are made with :func:`attrs.evolve`.

    ``phone`` holds the 11 national digits and ``email`` its lower-case form: the rendering flags
    (``phone_style``, ``phone_full_width``, ``email_style``) only change how they are written.
    """

    entity: str
    name: _PersonName | _OrgName
    phone: str
    phone_style: int = 0
    phone_full_width: bool = False
    email: str | None = None
    email_style: int = 0
    identifier: tuple[str, str] | None = None  # (scheme, value)
    address: _Address | None = None
    gender: str | None = None
    birth_date: date | None = None
    industry: str | None = None
    legal_representative: str | None = None
    employee_band: str | None = None
    contact_name: str | None = None
    contact_title: str | None = None
    source: str | None = None
    person: _Person | None = None  # the individual, or the organisation's contact person
    domain: str | None = None  # the organisation's e-mail domain

    @property
    def is_org(self) -> bool:
        return isinstance(self.name, _OrgName)

    def render(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": "organization" if self.is_org else "individual",
            "name": self.name.render(),
        }
        if self.gender is not None:
            data["gender"] = self.gender
        if self.birth_date is not None:
            data["birth_date"] = self.birth_date.isoformat()
        if self.industry is not None:
            data["industry"] = self.industry
        if self.employee_band is not None:
            data["employee_band"] = self.employee_band
        if self.legal_representative is not None:
            data["legal_representative"] = self.legal_representative
        if self.identifier is not None:
            data["identifiers"] = [{"scheme": self.identifier[0], "value": self.identifier[1]}]
        contact: dict[str, Any] = {}
        if self.contact_name is not None:
            contact["name"] = self.contact_name
        if self.contact_title is not None:
            contact["title"] = self.contact_title
        contact["phones"] = [self._phone_text()]
        if self.email is not None:
            contact["emails"] = [self._email_text(self.email)]
        contact["primary"] = True
        data["contacts"] = [contact]
        if self.address is not None:
            data["addresses"] = [self.address.render()]
        if self.source is not None:
            data["source"] = self.source
        return data

    def _phone_text(self) -> str:
        p = self.phone
        text = (
            p,
            f"{p[:3]} {p[3:7]} {p[7:]}",
            f"{p[:3]}-{p[3:7]}-{p[7:]}",
            f"+86 {p[:3]} {p[3:7]} {p[7:]}",
            f"+86{p}",
        )[self.phone_style]
        return _full_width(text) if self.phone_full_width else text

    def _email_text(self, email: str) -> str:
        if self.email_style == 1:
            return email.upper()
        if self.email_style == 2:
            local, _, domain = email.partition("@")
            return f"{local[:1].upper()}{local[1:]}@{domain.upper()}"
        return email


def _strong_overlap(a: _Draft, b: _Draft) -> bool:
    """Whether two drafts share a phone, an e-mail (up to case) or an identifier."""
    return (
        a.phone == b.phone
        or (a.email is not None and a.email == b.email)
        or (a.identifier is not None and a.identifier == b.identifier)
    )


def _linked(a: _Draft, b: _Draft) -> bool:
    """Whether a careful human can tell two drafts of one entity belong together.

    Names always stay close (the perturbations change at most a character, the order or the legal
    form), so the records must also share a strong identifier or the same street in one city.
    """
    if _strong_overlap(a, b):
        return True
    return (
        a.address is not None
        and b.address is not None
        and a.address.city == b.address.city
        and a.address.street_key == b.address.street_key
    )


# ------------------------------------------------------------------------------ the generator


class _Generator:
    """Entities and their copies, from one ``random.Random``; holds only bounded buffers."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.recent_people: deque[tuple[_Person, _City, bool]] = deque(maxlen=_RECENT)
        self.recent_homes: deque[tuple[_City, _Address, str]] = deque(maxlen=_RECENT)
        self.recent_orgs: deque[_OrgStem] = deque(maxlen=_RECENT)
        self.recent_offices: deque[tuple[_City, _Address]] = deque(maxlen=_RECENT)

    # ------------------------------------------------------------------- small building blocks

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def pick(self, items: Sequence[_T]) -> _T:
        return items[int(self.rng.random() * len(items))]

    def below(self, stop: int) -> int:
        """A whole number in ``[0, stop)`` (``stop`` below 2**53)."""
        return int(self.rng.random() * stop)

    def integer(self, low: int, high: int) -> int:
        """A whole number in ``[low, high]``."""
        return low + int(self.rng.random() * (high - low + 1))

    def person(self, *, male: bool | None = None, surname: str | None = None) -> _Person:
        rng = self.rng
        if male is None:
            male = self.chance(0.5)
        if surname is None:
            surname = _SURNAMES.draw(rng)
        if self.chance(0.45):
            given: str = _COMMON_GIVEN[male].draw(rng)
        else:
            chars = _GIVEN_CHARS[male]
            given = self.pick(chars)
            if self.chance(0.75):
                given += self.pick(chars)
        return _Person(surname, given, male)

    def phone(self, avoid: str | None = None) -> str:
        while True:
            number = f"{_MOBILE_PREFIXES.draw(self.rng)}{self.below(10**8):08d}"
            if number != avoid:
                return number

    def phone_style(self) -> int:
        return int(_PHONE_STYLES.draw(self.rng))

    def personal_email(self, person: _Person) -> str:
        rng = self.rng
        domain: str = _MAIL_DOMAINS.draw(rng)
        if domain == "qq.com" and self.chance(0.6):
            return f"{self.integer(10**5, 4 * 10**9)}@qq.com"
        s, g = person.surname_pinyin, person.given_pinyin
        local = self.pick((f"{s}{g}", f"{s}.{g}", f"{g}{s}", f"{s}{g[:1]}", f"{s[:1]}{g}"))
        if self.chance(0.25):  # a birthday
            digits = f"{self.integer(1955, 2005)}{self.integer(1, 12):02d}{self.integer(1, 28):02d}"
        else:
            digits = str(self.below(10 ** self.integer(3, 5)))
        return f"{local}{self.pick(('', '', '_'))}{digits}@{domain}"

    def work_email(self, person: _Person, domain: str | None) -> str:
        if domain is None or self.chance(0.3):
            return self.personal_email(person)
        s, g = person.surname_pinyin, person.given_pinyin
        local = self.pick((f"{s}{g}", f"{s}.{g}", f"{g}.{s}", f"{s}{g[:1]}"))
        if self.chance(0.5):
            local += str(self.integer(1, 99))
        return f"{local}@{domain}"

    def address(self, city: _City, *, kind: str) -> _Address:
        rng = self.rng
        district, _ = self.pick(city.districts)
        road = self.pick(_ROAD_STEMS) + str(_ROAD_DIRECTIONS.draw(rng)) + str(_ROAD_KINDS.draw(rng))
        number = min(1 + int(rng.expovariate(1 / 150)), 1999)
        if kind == "home":
            detail = (
                f"{self.integer(1, 30)}栋{self.integer(1, 6)}单元{self.integer(1, 33)}"
                f"{self.integer(1, 6):02d}室"
                if self.chance(0.7)
                else ""
            )
        else:
            detail = self.pick(
                (
                    "",
                    f"{self.integer(1, 12)}号楼{self.integer(1, 30)}层",
                    f"{self.pick('ABCD')}座{self.integer(1, 40)}{self.integer(1, 20):02d}室",
                    f"{self.integer(1, 28)}层",
                )
            )
        postal = f"{city.postal_prefix}{self.below(1000):03d}" if self.chance(0.45) else None
        return _Address(
            kind=kind,
            province=city.province,
            city=city.name,
            district=district,
            road=road,
            number=number,
            detail=detail,
            postal_code=postal,
            spaced=self.chance(0.1),
        )

    def ric(self, city: _City, born: date, male: bool) -> str:
        rng = self.rng
        _, code = self.pick(city.districts if self.chance(0.6) else _CITIES.draw(rng).districts)
        sequence = self.below(500) * 2 + (1 if male else 0)
        body = f"{code}{born:%Y%m%d}{sequence:03d}"
        return body + ric.calc_check_digit(body)

    def uscc(self, city: _City) -> str:
        _, code = self.pick(city.districts)
        if self.chance(0.5):
            org = "".join(str(self.below(10)) for _ in range(8))
        else:
            org = "MA" + "".join(self.pick(uscc.ALPHABET) for _ in range(6))
        org += _org_code_check(org)
        body = f"91{code}{org}"
        return body + uscc.calc_check_digit(body)

    # ---------------------------------------------------------------------------- entities

    def entity(self, entity_id: str) -> _Draft:
        if self.chance(0.7):
            return self.individual(entity_id)
        return self.organisation(entity_id)

    def individual(self, entity_id: str) -> _Draft:
        rng = self.rng
        home: _Address | None = None
        if self.recent_people and self.chance(0.08):
            # a hard negative: a namesake in the same city
            who, city, latin = self.pick(self.recent_people)
            person = who
        elif self.recent_homes and self.chance(0.03 / 0.92):
            # a hard negative: a family member at the same address
            city, home, surname = self.pick(self.recent_homes)
            person = self.person(surname=surname if self.chance(0.6) else None)
            latin = self.chance(0.15)
        else:
            person = self.person()
            city = _CITIES.draw(rng)
            latin = self.chance(0.15)
        self.recent_people.append((person, city, latin))
        if latin:
            name = _PersonName(
                person.surname_pinyin.capitalize(),
                person.given_pinyin.capitalize(),
                latin=True,
                given_first=self.chance(0.25),
            )
        else:
            name = _PersonName(person.surname, person.given, latin=False)
        born = date(self.integer(1955, 2004), 1, 1) + timedelta(days=self.below(365))
        identifier = ("CN-RIC", self.ric(city, born, person.male)) if self.chance(0.2) else None
        if home is None and self.chance(0.8):
            home = self.address(city, kind="home")
        if home is not None:
            self.recent_homes.append((city, home, person.surname))
        return _Draft(
            entity=entity_id,
            name=name,
            phone=self.phone(),
            phone_style=self.phone_style(),
            email=self.personal_email(person) if self.chance(0.6) else None,
            identifier=identifier,
            address=home,
            gender=("male" if person.male else "female") if self.chance(0.6) else None,
            birth_date=born if self.chance(0.4) else None,
            source=self.pick(_SOURCES) if self.chance(0.5) else None,
            person=person,
        )

    def organisation(self, entity_id: str) -> _Draft:
        rng = self.rng
        city: _City = _CITIES.draw(rng)
        office: _Address | None = None
        stem = self.pick(self.recent_orgs) if self.recent_orgs and self.chance(0.2) else None
        if stem is not None and len(stem.cities) < len(_CITIES.items):
            # a hard negative: a recent name in another city (names are unique within a city)
            while city.name in stem.cities:
                city = _CITIES.draw(rng)
            stem.cities.add(city.name)
            core, trade, legal = stem.core, stem.trade, stem.legal
            style = "bracketed" if self.chance(0.25) else "prefix"
        else:
            size = 2 if self.chance(0.5) else 3
            core = "".join(rng.sample(_CORE_CHARS, size))
            trade = _TRADES.draw(rng)
            legal = "股份有限公司" if trade[0] == "银行" else str(_LEGAL_FORMS.draw(rng))
            style = self.pick(("prefix",) * 13 + ("bracketed",) * 4 + ("none",) * 3)
            if self.recent_offices and self.chance(0.05):
                # a hard negative: another company in the same building
                city, shared = self.pick(self.recent_offices)
                office = _address_in_same_building(shared)
            self.recent_orgs.append(_OrgStem(core, trade, legal, {city.name}))
        name = _OrgName(
            region=None if style == "none" else city.short,
            core=core,
            trade=trade[0],
            legal=legal,
            bracketed=style == "bracketed",
        )
        if office is None:
            office = self.address(city, kind="registered")
        self.recent_offices.append((city, office))
        core_pinyin = "".join(_PINYIN[ch] for ch in core)
        domain = self.pick(
            (
                f"{core_pinyin}.com",
                f"{core_pinyin}.com.cn",
                f"{city.abbrev}{core_pinyin}.com",
                f"{core_pinyin}{self.integer(1, 2020)}.com",
                f"{core_pinyin}-{city.abbrev}.cn",
            )
        )
        contact = self.person()
        return _Draft(
            entity=entity_id,
            name=name,
            phone=self.phone(),
            phone_style=self.phone_style(),
            email=self.work_email(contact, domain) if self.chance(0.75) else None,
            identifier=("CN-USCC", self.uscc(city)) if self.chance(0.7) else None,
            address=office,
            industry=trade[1],
            legal_representative=self.person().hanzi if self.chance(0.5) else None,
            employee_band=self.pick(_BANDS) if self.chance(0.5) else None,
            contact_name=contact.hanzi,
            contact_title=self.pick(_TITLES) if self.chance(0.8) else None,
            source=self.pick(_SOURCES) if self.chance(0.5) else None,
            person=contact,
            domain=domain,
        )

    # ------------------------------------------------------------------------------ copies

    def copy(self, original: _Draft, others: Sequence[_Draft]) -> tuple[_Draft, str]:
        """A perturbed copy of ``original`` linked to it and to every draft in ``others``."""
        for _ in range(_ATTEMPTS):
            applicable = [(n, w) for n, w in _PERTURBATIONS if _applies(n, original)]
            count = 1 if self.chance(0.6) or len(applicable) == 1 else 2
            chosen: set[str] = set()
            while len(chosen) < count:
                names = [n for n, _ in applicable if n not in chosen]
                weights = [w for n, w in applicable if n not in chosen]
                chosen.add(self.rng.choices(names, weights)[0])
            draft = attrs.evolve(
                original,
                phone_style=self.phone_style(),
                source=self.pick(_SOURCES) if self.chance(0.5) else None,
            )
            labels = []
            for name, _ in _PERTURBATIONS:
                if name not in chosen:
                    continue
                if not _applies(name, draft):  # an earlier perturbation removed its target
                    break
                draft = _PERTURB[name](self, draft)
                labels.append(name)
            else:
                if all(_linked(draft, other) for other in (original, *others)):
                    return draft, "+".join(labels)
        # Unreachable in practice; a copy that keeps every identifier is linked to everything
        # linked to the original.
        return attrs.evolve(original, phone_full_width=True), "full_width"

    def typo(self, draft: _Draft) -> _Draft:
        name = draft.name
        if isinstance(name, _OrgName):
            return attrs.evolve(draft, name=attrs.evolve(name, core=self.similar(name.core)))
        if not name.latin:
            return attrs.evolve(draft, name=attrs.evolve(name, given=self.similar(name.given)))
        if self.chance(len(name.given) / (len(name.given) + len(name.surname))):
            return attrs.evolve(draft, name=attrs.evolve(name, given=self.letter_typo(name.given)))
        return attrs.evolve(draft, name=attrs.evolve(name, surname=self.letter_typo(name.surname)))

    def similar(self, text: str) -> str:
        """``text`` with one character replaced by a similar one from the typo table."""
        positions = [i for i, ch in enumerate(text) if ch in _SIMILAR]
        i = self.pick(positions)
        return text[:i] + self.pick(_SIMILAR[text[i]]) + text[i + 1 :]

    def letter_typo(self, word: str) -> str:
        """``word`` (capitalised pinyin) with one letter substituted, deleted or transposed."""
        lower = word.lower()
        op = self.rng.random()
        if op < 0.25 and len(lower) >= 3:
            i = self.integer(1, len(lower) - 1)
            result = lower[:i] + lower[i + 1 :]
        elif op < 0.5 and any(a != b for a, b in pairwise(lower)):
            i = self.pick([i for i in range(len(lower) - 1) if lower[i] != lower[i + 1]])
            result = lower[:i] + lower[i + 1] + lower[i] + lower[i + 2 :]
        else:
            i = self.below(len(lower))
            result = lower[:i] + self.pick(_QWERTY_NEIGHBOURS[lower[i]]) + lower[i + 1 :]
        return result.capitalize()

    def swapped_name(self, draft: _Draft) -> _Draft:
        name = draft.name
        assert isinstance(name, _PersonName)
        return attrs.evolve(draft, name=attrs.evolve(name, given_first=not name.given_first))

    def full_width(self, draft: _Draft) -> _Draft:
        options = ["phone"]
        if draft.address is not None:
            options.append("street")
        if isinstance(draft.name, _PersonName) and draft.name.latin:
            options.append("name")
        where = self.pick(options)
        if where == "street":
            assert draft.address is not None
            return attrs.evolve(draft, address=attrs.evolve(draft.address, full_width=True))
        if where == "name":
            assert isinstance(draft.name, _PersonName)
            return attrs.evolve(draft, name=attrs.evolve(draft.name, full_width=True))
        return attrs.evolve(draft, phone_full_width=True)

    def legal_form(self, draft: _Draft) -> _Draft:
        name = draft.name
        assert isinstance(name, _OrgName)
        options: list[tuple[str, float]] = [("drop", 2.0)]
        if name.legal in _LLC:
            options.append(("swap", 3.0))
        if name.legal == "股份有限公司":
            options.append(("short", 1.5))
        if name.region is not None:
            options.append(("bracket", 2.0))
        choice = self.rng.choices([o for o, _ in options], [w for _, w in options])[0]
        if choice == "drop":
            new = attrs.evolve(name, legal="")
        elif choice == "swap":
            new = attrs.evolve(name, legal=_LLC[1] if name.legal == _LLC[0] else _LLC[0])
        elif choice == "short":
            new = attrs.evolve(name, legal="股份公司")
        else:
            new = attrs.evolve(name, bracketed=not name.bracketed)
        return attrs.evolve(draft, name=new)

    def changed_phone(self, draft: _Draft) -> _Draft:
        email = draft.email
        person = draft.person
        contact_name = draft.contact_name
        if draft.is_org and self.chance(0.35):
            # a new contact person: new phone, and a new e-mail address or none
            person = self.person()
            contact_name = person.hanzi
            email = self.work_email(person, draft.domain) if self.chance(0.5) else None
            keep = ["identifier"]
        else:
            keep = [k for k in ("email", "identifier") if getattr(draft, k) is not None]
        # keep at most one of e-mail and identifier; neither only when an address remains
        kept = None
        if keep and (draft.address is None or self.chance(0.55)):
            kept = self.pick(keep)
        return attrs.evolve(
            draft,
            phone=self.phone(avoid=draft.phone),
            email=email if kept == "email" or email != draft.email else None,
            identifier=draft.identifier if kept == "identifier" else None,
            person=person,
            contact_name=contact_name,
        )

    def email_case(self, draft: _Draft) -> _Draft:
        roll = self.rng.random()
        if roll < 0.4:
            return attrs.evolve(draft, email_style=1)
        if roll < 0.65:
            return attrs.evolve(draft, email_style=2)
        return attrs.evolve(draft, email=None)

    def address_variant(self, draft: _Draft) -> _Draft:
        address = draft.address
        assert address is not None
        options: list[tuple[str, float]] = [("spaces", 3.0), ("province", 1.5)]
        if not address.full_width:  # keep an earlier full-width street visible
            options.append(("all", 0.7))
        if address.district is not None:
            options.append(("district", 3.0))
        if address.postal_code is not None:
            options.append(("postal", 1.5))
        choice = self.rng.choices([o for o, _ in options], [w for _, w in options])[0]
        if choice == "all":
            return attrs.evolve(draft, address=None)
        if choice == "spaces":
            new = attrs.evolve(address, spaced=not address.spaced)
        elif choice == "province":
            new = attrs.evolve(address, province=None)
        elif choice == "district":
            new = attrs.evolve(address, district=None)
        else:
            new = attrs.evolve(address, postal_code=None)
        return attrs.evolve(draft, address=new)


def _address_in_same_building(shared: _Address) -> _Address:
    """Another office at ``shared``'s street and number (a different floor or none)."""
    return attrs.evolve(shared, detail="" if shared.detail else "1层")


def _org_code_check(body: str) -> str:
    """The GB 11714 check character of an eight-character organisation code body."""
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(ch, 36) * w for ch, w in zip(body, weights, strict=True))
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def _applies(perturbation: str, draft: _Draft) -> bool:
    name = draft.name
    if perturbation == "swapped_name":
        return isinstance(name, _PersonName) and name.latin
    if perturbation == "legal_form":
        return isinstance(name, _OrgName)
    if perturbation == "changed_phone":
        # with neither an address nor an e-mail nor an identifier, only the name would remain
        return draft.address is not None or draft.email is not None or draft.identifier is not None
    if perturbation == "email_case":
        return draft.email is not None
    if perturbation == "address":
        return draft.address is not None
    return True


_PERTURB: Final = {
    "typo": _Generator.typo,
    "swapped_name": _Generator.swapped_name,
    "full_width": _Generator.full_width,
    "legal_form": _Generator.legal_form,
    "changed_phone": _Generator.changed_phone,
    "email_case": _Generator.email_case,
    "address": _Generator.address_variant,
}


# ------------------------------------------------------------------------------- the stream


def labelled_customers(
    n: int, *, seed: int = 0, duplicate_share: float = 0.2, window: int = 300
) -> Iterator[LabelledRecord]:
    """Yield exactly ``n`` labelled raw customer records, deterministically for ``seed``.

    About ``duplicate_share`` of the records (0 to 0.6) are perturbed copies of an entity already
    emitted, each 1 to ``window`` records after that entity's original (see the module docstring
    for the data model and the perturbations). Near the end of the stream fewer copies are
    planned, so that every planned copy is emitted. Memory stays bounded by ``window``, whatever
    ``n``. Raises ``ValueError`` for a negative ``n``, a share outside ``[0, 0.6]`` or a
    ``window`` below 1.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError("n must be a non-negative int")
    if not 0.0 <= duplicate_share <= _MAX_SHARE:
        raise ValueError(f"duplicate_share must lie between 0 and {_MAX_SHARE}")
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError("window must be a positive int")
    return _stream(n, random.Random(seed), duplicate_share, window)


def _stream(n: int, rng: random.Random, share: float, window: int) -> Iterator[LabelledRecord]:
    gen = _Generator(rng)
    # copies per entity on average, so that copies / records == share
    p_duplicated = share / (1.0 - share) / _MEAN_COPIES
    pending: list[tuple[int, int, LabelledRecord]] = []  # (due position, tie-break, record)
    sequence = 0
    entities = 0
    position = 0
    while position < n:
        if pending and (pending[0][0] <= position or len(pending) >= n - position):
            yield heapq.heappop(pending)[2]
            position += 1
            continue
        entities += 1
        original = gen.entity(f"E{entities:07d}")
        yield LabelledRecord(original.entity, original.render(), "original")
        position += 1
        if not gen.chance(p_duplicated):
            continue
        room = n - position - len(pending)  # slots left for new copies
        copies: list[_Draft] = []
        for _ in range(min(int(_COPY_COUNTS.draw(rng)), room)):
            draft, variant = gen.copy(original, copies)
            copies.append(draft)
            offset = 1 if gen.chance(_ADJACENT) else gen.integer(1, window)
            sequence += 1
            record = LabelledRecord(original.entity, draft.render(), variant)
            heapq.heappush(pending, (position - 1 + offset, sequence, record))


# ------------------------------------------------------------------------------------ metrics


@attrs.frozen
class PairMetrics:
    """Pairwise scores of a clustering: a pair is two records placed in one cluster.

    ``precision`` is ``true_positives / (true_positives + false_positives)`` and is 1.0 when no
    pair is predicted; ``recall`` is ``true_positives / (true_positives + false_negatives)`` and
    is 1.0 when there is no true pair; ``f1`` is their harmonic mean (0.0 when both are 0).
    """

    true_positives: int
    false_positives: int
    false_negatives: int
    precision: float
    recall: float
    f1: float


def _pairs_of(count: int) -> int:
    return count * (count - 1) // 2


def pair_metrics(predicted: Iterable[Iterable[str]], truth: Mapping[str, str]) -> PairMetrics:
    """Score predicted clusters of record ids against ``truth`` (record id -> entity id).

    ``predicted`` holds disjoint clusters; singletons may be omitted, and every record missing
    from ``predicted`` counts as a singleton. Pairs are counted, never enumerated: a cluster of
    ``k`` records predicts ``k * (k - 1) / 2`` pairs, of which the true ones are the pairs inside
    each entity's share of the cluster. Raises ``ValueError`` for an id that is not in ``truth``
    or that appears twice.

    >>> truth = {"a": "E1", "b": "E1", "c": "E1", "d": "E2", "e": "E2"}
    >>> m = pair_metrics([["a", "b"], ["c", "d"]], truth)
    >>> m.true_positives, m.false_positives, m.false_negatives
    (1, 1, 3)
    >>> m.precision, m.recall
    (0.5, 0.25)
    >>> pair_metrics([], truth).precision
    1.0
    """
    seen: set[str] = set()
    true_positives = predicted_pairs = 0
    for cluster in predicted:
        entities: Counter[str] = Counter()
        size = 0
        for record_id in cluster:
            if record_id in seen:
                raise ValueError(f"record {record_id!r} appears in more than one place")
            if record_id not in truth:
                raise ValueError(f"record {record_id!r} is not labelled in truth")
            seen.add(record_id)
            entities[truth[record_id]] += 1
            size += 1
        predicted_pairs += _pairs_of(size)
        true_positives += sum(_pairs_of(k) for k in entities.values())
    true_pairs = sum(_pairs_of(k) for k in Counter(truth.values()).values())
    false_positives = predicted_pairs - true_positives
    false_negatives = true_pairs - true_positives
    precision = true_positives / predicted_pairs if predicted_pairs else 1.0
    recall = true_positives / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PairMetrics(true_positives, false_positives, false_negatives, precision, recall, f1)
