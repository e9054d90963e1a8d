"""The synthetic generator's weighted tables: names, pinyin, typos, cities, roads, phones,
mail domains and the perturbation weights (private; see :mod:`custrec.testing.synthetic`)."""

from __future__ import annotations

import random
from bisect import bisect
from collections.abc import Iterable
from itertools import accumulate
from typing import Any, Final

import attrs


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
    ("missing_id", 2.0),
    ("email_case", 1.5),
    ("address", 1.5),
)
_HARD_ONLY: Final = frozenset({"missing_id"})
"""Perturbations only the harder set applies (the default stream stays as it was)."""
_AREA_CODES: Final = _pairs(
    "北京市:010 上海市:021 广州市:020 深圳市:0755 杭州市:0571 成都市:028 南京市:025 武汉市:027 "
    "重庆市:023 苏州市:0512 天津市:022 西安市:029 长沙市:0731 青岛市:0532 济南市:0531 郑州市:0371 "
    "厦门市:0592 沈阳市:024 合肥市:0551 昆明市:0871"
)
"""Fixed-line area codes of the cities."""
_SHORT_LOCAL: Final = frozenset({"0592"})
"""Area codes whose local numbers have seven digits, not eight."""
_GENERIC_MAILBOXES: Final = ("info", "service", "office", "contact", "hr", "sales")
"""Local parts of shared, role-based mailboxes (``info@``)."""
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
