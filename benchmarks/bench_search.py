"""Benchmark: grouped counts and name search at a million customers, beside plain SQL.

    python benchmarks/bench_search.py [--customers 1000000] [--repeat 3] [--searches 200]
        [--backends sqlite,postgres] [--dsn DSN] [--chunk 50000] [--seed 11]
        [--sqlite-path PATH [--reuse]] [--json PATH]

**Data.** ``--customers`` generated customers (85 % individuals, 15 % organisations), each with
an industry (30, Zipf-like; a quarter of the individuals none), one address (31 provinces
weighted by economic size, 306 real cities, the capital first), a lifecycle stage, an owner
among 50 staff in 10 teams (``staff-k`` is in ``team-(k % 10)``), a value tier
(A-D, 85 % graded) and stars (1-5, 80 %). Individuals get Chinese names with realistic surname
frequencies (王 7.1 %, 李 7.0 %, 张 6.7 % ... about 160 surnames) and given names (the 60 most
common ones, 伟 0.31 % ... 8.6 % in all, then one or two characters drawn from Zipf-weighted
pools), so 王伟 and 张伟 are held by about 0.02 % of them, as in China; organisations are named
``<region><core><business word><legal form>`` (region: province, big city, bracketed or none;
core: two characters of a Zipf-weighted pool of 110; 30 business words; four legal forms).

**Stores.** *SQLite* (file, WAL, the store's defaults; encrypted: a key file, data keys in the
separate key store): the customers that any timed search finds (every match of every searched
text, so that everything a search opens is a real sealed customer) go in through
``registry.customers.intake_many`` (as :class:`~custrec.model.records.Customer` objects with
those facets, their own ids, a unique mobile phone and, for organisations, a contact person);
the others are written through the storage layer (``store.transaction()`` +
``session.customers.add_many``, ``--chunk`` rows per session) with the facets the registry
would give them (``industry=``, ``province=``, ``city=``, ``verification=unverified``,
``grade.value_tier=``, ``grade.stars=``), a dummy payload (310 bytes: grouped counts never open
payloads) and the name-search tokens the registry would index (``codec.index_key`` of
:func:`custrec.matching.names.name_keys`). Ids are UUIDv7 over five years, so real and bulk
rows interleave in id order as in a live store. *PostgreSQL* (when a DSN is given: ``--dsn``,
``CUSTREC_BENCH_POSTGRES_DSN`` or ``CUSTREC_TEST_POSTGRES_DSN``; else skipped with a note): a
fresh schema, every customer through ``add_many`` with the same facets and no index keys (only
grouped counts run there), then ``VACUUM ANALYZE``. ``memory`` is accepted as a backend too
(:class:`~custrec.backends.MemoryStore`, to check the script without a database).

**Grouped counts.** ``session.customers.group_count(by, where=...)`` in a read-only session:
by industry, industry x ``grade.value_tier``, province x owner, city, stage (a column), and
two filtered ones (province 广东 within a manager's reach ``Reach(team=...)``, and within a
member of staff's ``Reach(owner=...)``). **The peer**: the same ``GROUP BY`` written by hand on
a plain table of the same data (one row per customer, one column per value, an index on each
column grouped or filtered by), in a plain SQLite file (WAL, 64 MiB cache) through ``sqlite3``
and in a plain PostgreSQL schema (loaded with ``COPY``, ``VACUUM ANALYZE``) through
``psycopg``.
Each query runs once untimed (its result must equal the peer's, or the run fails), then
``--repeat`` times alternating with the peer: medians of wall seconds.

**Name search** (the SQLite or memory store only): ``registry.customers.search(text,
actor=...)`` (page of 100, every shown customer opened and audited, one ``customer.search``
audit entry) ``--searches`` times per kind after 3 untimed calls: rare person names (held by
one customer), the 20 most common person names (王伟, 张伟 ...; in turn), organisations' core
names (``某某科技``: every region's company of that core), each by an admin who may unmask,
and the common names by a member of staff (own customers only: the whole posting list is read,
few are opened). Beside it, **the storage alone**: the same tokens through
``lookup_many`` and the first page's rows through ``get_many`` in a read-only session (no
decryption, no policy, no audit). Reported: p50, p99 and max in ms, the mean number found, and
the posting-list sizes (customers holding any of the text's keys).

The JSON (``--json PATH``) holds the machine, versions, sizes, build times, file sizes and
every figure. The goal (issue: grouped counts at 1,000,000 customers under 2 s on SQLite) is
shown per query; it is a benchmark, never a timed test. Files are read warm (the OS page cache
holds them after the build).
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import os
import random
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
import unicodedata
from array import array
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench_workflow import machine, percentile, uuid7

if TYPE_CHECKING:
    from custrec import Actor, KeyRing, Registry
    from custrec.model.records import Customer
    from custrec.storage import CustomerFilter, CustomerRow, Store

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
DAY_MS = 86_400_000
SPAN_DAYS = 5 * 365
STAFF = 50
TEAMS = 10
PAGE = 100  # registry.customers.search's default page
GOAL_S = 2.0
WARMUP = 3
COMMON_NAMES = 20
PAYLOAD = bytes(range(256)) + bytes(54)  # 310 bytes, like a sealed customer's
DSN_VARIABLES = ("CUSTREC_BENCH_POSTGRES_DSN", "CUSTREC_TEST_POSTGRES_DSN")
BACKENDS = ("sqlite", "postgres", "memory")

# --- vocabularies ----------------------------------------------------------------------------


def words(text: str) -> list[str]:
    """The words of ``text``, repeats dropped."""
    return list(dict.fromkeys(text.split()))


# province -> (weight, cities with the capital first); the municipalities are their own city
PROVINCES: dict[str, tuple[float, str]] = {
    "广东": (
        12,
        "广州 深圳 东莞 佛山 珠海 中山 惠州 汕头 江门 湛江 茂名 "
        "肇庆 梅州 揭阳 清远 韶关 阳江 潮州 河源 汕尾 云浮",
    ),
    "江苏": (10, "南京 苏州 无锡 常州 南通 徐州 扬州 盐城 泰州 镇江 淮安 连云港 宿迁"),
    "浙江": (8, "杭州 宁波 温州 绍兴 嘉兴 金华 台州 湖州 衢州 丽水 舟山"),
    "山东": (7, "济南 青岛 烟台 潍坊 临沂 淄博 济宁 泰安 威海 德州 聊城 滨州 菏泽 枣庄 日照 东营"),
    "北京": (6, "北京"),
    "上海": (6, "上海"),
    "河南": (
        5,
        "郑州 洛阳 南阳 新乡 许昌 商丘 周口 信阳 驻马店 "
        "平顶山 安阳 开封 焦作 濮阳 漯河 三门峡 鹤壁",
    ),
    "四川": (
        5,
        "成都 绵阳 德阳 宜宾 南充 泸州 乐山 达州 自贡 "
        "内江 遂宁 眉山 广安 攀枝花 资阳 雅安 巴中 广元",
    ),
    "湖北": (4, "武汉 宜昌 襄阳 荆州 黄冈 孝感 十堰 荆门 黄石 咸宁 随州 鄂州 恩施"),
    "福建": (4, "福州 厦门 泉州 漳州 莆田 宁德 龙岩 三明 南平"),
    "湖南": (4, "长沙 株洲 湘潭 衡阳 岳阳 常德 郴州 邵阳 永州 怀化 益阳 娄底 张家界"),
    "河北": (3.5, "石家庄 唐山 保定 邯郸 沧州 廊坊 邢台 衡水 秦皇岛 张家口 承德"),
    "安徽": (
        3.5,
        "合肥 芜湖 蚌埠 阜阳 安庆 马鞍山 滁州 六安 宿州 淮南 亳州 宣城 铜陵 淮北 池州 黄山",
    ),
    "陕西": (2.5, "西安 咸阳 宝鸡 渭南 榆林 延安 汉中 安康 商洛 铜川"),
    "重庆": (2.5, "重庆"),
    "辽宁": (2.5, "沈阳 大连 鞍山 抚顺 锦州 营口 丹东 本溪 辽阳 盘锦 铁岭 葫芦岛 阜新 朝阳"),
    "天津": (2, "天津"),
    "江西": (2, "南昌 赣州 九江 上饶 宜春 吉安 抚州 景德镇 萍乡 新余 鹰潭"),
    "广西": (2, "南宁 柳州 桂林 玉林 梧州 北海 钦州 贵港 百色 河池"),
    "云南": (2, "昆明 曲靖 玉溪 大理 红河 昭通 楚雄 丽江 保山 普洱"),
    "山西": (1.5, "太原 大同 长治 晋中 运城 临汾 晋城 吕梁 忻州 阳泉 朔州"),
    "贵州": (1.3, "贵阳 遵义 六盘水 毕节 铜仁 安顺 黔南 黔东南 黔西南"),
    "黑龙江": (1.2, "哈尔滨 大庆 齐齐哈尔 牡丹江 佳木斯 绥化 鸡西 双鸭山 黑河 伊春"),
    "吉林": (1, "长春 吉林 四平 通化 松原 延边 白山 辽源 白城"),
    "内蒙古": (1, "呼和浩特 包头 鄂尔多斯 赤峰 通辽 呼伦贝尔 巴彦淖尔 乌兰察布 乌海"),
    "新疆": (1, "乌鲁木齐 克拉玛依 伊犁 喀什 昌吉 阿克苏 哈密 巴音郭楞 吐鲁番"),
    "甘肃": (0.8, "兰州 天水 酒泉 庆阳 白银 武威 张掖 平凉 定西 陇南 金昌 嘉峪关"),
    "海南": (0.6, "海口 三亚 儋州 琼海 万宁"),
    "宁夏": (0.3, "银川 石嘴山 吴忠 固原 中卫"),
    "青海": (0.2, "西宁 海东 海西 海北"),
    "西藏": (0.1, "拉萨 日喀则 林芝 昌都 山南 那曲"),
}
FULL_FORMS = {"北京": "北京市", "上海": "上海市", "天津": "天津市", "重庆": "重庆市"}
FULL_FORMS |= {"内蒙古": "内蒙古自治区", "广西": "广西壮族自治区", "西藏": "西藏自治区"}
FULL_FORMS |= {"宁夏": "宁夏回族自治区", "新疆": "新疆维吾尔自治区"}

INDUSTRIES = words(
    "软件 批发 制造 零售 建筑 房地产 金融 教育 医疗 餐饮 物流 电子 汽车 化工 食品 通信 传媒 "
    "咨询 广告 纺织 医药 能源 农业 保险 旅游 环保 住宿 法律服务 文化 政府机构"
)
STAGES = ("lead", "prospect", "new", "active", "dormant", "churned", "archived")
STAGE_WEIGHTS = (30, 15, 10, 25, 10, 7, 3)
TIERS = ("A", "B", "C", "D")
TIER_WEIGHTS = (5, 15, 40, 40)
STAR_WEIGHTS = (10, 25, 35, 20, 10)

# surnames with their share of the population in per cent (the 100 most common), then a tail
SURNAMES = (
    "王7.12 李7.00 张6.74 刘5.10 陈4.61 杨3.22 黄2.45 赵2.19 吴2.05 周1.87 徐1.45 孙1.38 "
    "马1.29 朱1.28 胡1.16 郭1.06 何1.03 林0.97 高0.96 罗0.86 郑0.84 梁0.83 谢0.70 宋0.62 "
    "唐0.62 许0.60 韩0.58 邓0.57 冯0.56 曹0.54 彭0.53 曾0.51 肖0.49 田0.48 董0.47 潘0.45 "
    "袁0.44 蔡0.43 蒋0.42 余0.42 于0.41 杜0.40 叶0.39 程0.38 魏0.37 苏0.36 吕0.36 丁0.35 "
    "任0.34 卢0.33 姚0.33 沈0.32 钟0.32 姜0.31 崔0.30 谭0.30 陆0.29 范0.28 汪0.28 廖0.27 "
    "石0.27 金0.26 韦0.26 贾0.25 夏0.25 付0.24 方0.24 邹0.23 熊0.23 白0.22 孟0.22 秦0.21 "
    "邱0.21 侯0.21 江0.20 尹0.20 薛0.19 闫0.19 段0.18 雷0.18 龙0.17 黎0.17 史0.17 陶0.16 "
    "贺0.16 毛0.15 郝0.15 顾0.15 龚0.14 邵0.14 万0.14 覃0.13 武0.13 钱0.13 戴0.13 严0.12 "
    "莫0.12 孔0.12 向0.12 常0.12"
)
SURNAME_TAIL = words(
    "汤 康 易 乔 赖 文 施 洪 辛 柳 殷 庞 单 牛 葛 倪 齐 包 左 章 聂 傅 邢 安 岳 俞 甘 祝 "
    "尚 欧 盛 凌 费 卜 骆 蓝 鲁 童 柴 耿 关 纪 滕 宁 温 褚 卫 尤 伍 霍 欧阳 司马 上官 诸葛 "
    "东方 慕容 令狐 皇甫"
)
SURNAME_TAIL_SHARE = 14.0
# given names with their share of the population in per cent (the 60 most common)
GIVEN = (
    "伟.31 芳.27 娜.26 静.25 丽.25 敏.24 秀英.24 强.23 磊.22 洋.21 艳.20 勇.20 军.20 杰.19 "
    "娟.18 涛.18 明.17 超.17 秀兰.16 霞.16 平.15 刚.15 桂英.14 燕.14 辉.13 玲.13 丹.12 萍.12 "
    "鹏.12 华.12 红.12 玉兰.11 飞.11 桂兰.11 英.10 梅.10 鑫.10 波.10 斌.10 莉.09 宇.09 "
    "浩.09 凯.09 秀珍.09 健.09 俊.09 帆.08 雪.08 帅.08 慧.08 旭.08 宁.08 婷.08 玉梅.08 龙.07 "
    "林.07 玉珍.07 凤英.07 晶.07 欢.07"
)
GIVEN_FIRST = words(
    "子 梓 浩 宇 欣 思 雨 佳 嘉 俊 文 志 建 国 晓 春 海 金 永 明 玉 秀 美 丽 小 婉 诗 语 "
    "一 晨 皓 博 家 泽 雅 若 可 天 新 立 少 德 振 世 学 长 庆 成 伟 红 桂 凤 兰 亚 彦 泓 "
    "昊 鸿 晋 瑞 锦 佩 韵 慧 馨 怡 心 安 宏 俊 凯 正 光 承 书 紫 静 梦 雪 舒 逸 宸 睿 "
    "钰 函 铭 涵 航 轩 若 奕 昕 彤 妍 琪 蕾"
)
GIVEN_SECOND = words(
    "涵 轩 萱 怡 宇 然 琪 杰 豪 航 洋 辰 泽 浩 博 彤 婷 琳 颖 雯 晨 阳 霖 峰 鹏 磊 超 伟 "
    "强 军 平 刚 明 亮 华 文 武 斌 勇 龙 东 飞 成 林 松 波 涛 海 山 静 敏 丽 娟 燕 霞 玲 "
    "芳 红 梅 兰 英 凤 菊 莲 洁 慧 佳 悦 欣 月 晴 雪 蕊 瑶 璐 琳 妍 茜 倩 薇 蓉 艺 言 "
    "熙 凡 一 铭 楠 楷 源 哲 睿 诚 恒 毅 翔 鑫 昊 杨 彬 震 耀 鸣 鸿 铖 佑 岚 宁"
)
BRAND = words(
    "华 瑞 鑫 泰 恒 达 盛 康 源 兴 宏 昌 隆 信 诚 天 海 中 金 银 永 安 新 科 创 博 远 通 顺 "
    "利 丰 大 东 方 明 阳 光 美 佳 德 嘉 润 晟 鼎 聚 汇 合 和 众 联 威 宇 星 辰 景 域 云 智 "
    "捷 卓 越 锦 俊 晨 瀚 腾 飞 龙 凤 麒 麟 宝 富 成 旺 祥 福 亿 万 千 百 国 际 环 球 力 拓 "
    "展 航 峰 岳 川 江 湖 林 森 青 蓝 紫 绿 益 立 正 启 同 优 精"
)
BUSINESS = words(
    "科技 贸易 实业 信息技术 电子 机械 建设工程 食品 医药 物流 文化传媒 投资管理 企业管理咨询 "
    "环保科技 新能源 网络科技 生物科技 电器 服饰 建材 化工 汽车服务 餐饮管理 教育科技 智能科技 "
    "供应链管理 装饰工程 农业发展 软件 广告"
)
LEGAL_FORMS = ("有限公司", "有限责任公司", "股份有限公司", "集团有限公司")
LEGAL_WEIGHTS = (65, 10, 15, 5)
MOBILE_PREFIXES = ("130", "131", "135", "136", "137", "138", "139", "150", "151", "186", "188")


def zipf(n: int, s: float = 1.0) -> list[float]:
    return [1.0 / (rank + 1) ** s for rank in range(n)]


def cumulative(weights: Sequence[float]) -> list[float]:
    return list(itertools.accumulate(weights))


def cities() -> tuple[list[tuple[str, str]], list[float]]:
    """Every (province, city) with its share: the province's weight over its cities, Zipf."""
    places: list[tuple[str, str]] = []
    weights: list[float] = []
    for province, (weight, names) in PROVINCES.items():
        listed = names.split()
        shares = zipf(len(listed), 0.9)
        total = sum(shares)
        for city, share in zip(listed, shares, strict=True):
            places.append((province, city))
            weights.append(weight * share / total)
    return places, weights


def shares(text: str) -> tuple[list[str], list[float]]:
    """``"王7.12 李7.00"`` -> names and weights."""
    names: list[str] = []
    weights: list[float] = []
    for item in text.split():
        cut = next(i for i, c in enumerate(item) if c.isdigit() or c == ".")
        names.append(item[:cut])
        weights.append(float(item[cut:]))
    return names, weights


# --- data ------------------------------------------------------------------------------------


@dataclass
class Population:
    """The generated customers, column-wise (value indexes; -1 or 0 for none)."""

    ids: list[str]
    organisation: bytearray
    names: list[str]
    industry: array[int]  # index in INDUSTRIES, -1: none
    place: array[int]  # index in PLACES
    owner: array[int]  # staff number
    stage: bytearray  # index in STAGES
    tier: array[int]  # index in TIERS, -1: none
    stars: bytearray  # 1-5, 0: none

    def __len__(self) -> int:
        return len(self.ids)


PLACES, PLACE_WEIGHTS = cities()


def person_names(rng: random.Random, n: int) -> list[str]:
    top_surnames, top_weights = shares(SURNAMES)
    tail = [SURNAME_TAIL_SHARE * w / sum(zipf(len(SURNAME_TAIL))) for w in zipf(len(SURNAME_TAIL))]
    surnames = rng.choices(
        top_surnames + SURNAME_TAIL, cum_weights=cumulative(top_weights + tail), k=n
    )
    common, common_weights = shares(GIVEN)
    common_share = sum(common_weights)
    common_cum = cumulative(common_weights)
    first = cumulative(zipf(len(GIVEN_FIRST), 0.3))
    second = cumulative(zipf(len(GIVEN_SECOND), 0.3))
    names: list[str] = []
    for surname in surnames:
        draw = rng.random() * 100
        if draw < common_share:
            given = common[bisect.bisect(common_cum, draw)]
        elif rng.random() < 0.1:
            given = rng.choices(GIVEN_SECOND, cum_weights=second)[0]
        else:
            given = (
                rng.choices(GIVEN_FIRST, cum_weights=first)[0]
                + rng.choices(GIVEN_SECOND, cum_weights=second)[0]
            )
        names.append(surname + given)
    return names


def org_names(rng: random.Random, provinces: Sequence[str], city_names: Sequence[str]) -> list[str]:
    from custrec.matching.normalize import org_name

    known_city = {
        city
        for _, city in PLACES
        if org_name(f"{city}华瑞科技有限公司").region == city and len(city) > 1
    }
    brand = cumulative(zipf(len(BRAND), 0.5))
    business = cumulative(zipf(len(BUSINESS), 0.8))
    legal = cumulative(LEGAL_WEIGHTS)
    names: list[str] = []
    for province, city in zip(provinces, city_names, strict=True):
        core = "".join(rng.choices(BRAND, cum_weights=brand, k=2))
        while core[0] == core[1]:
            core = "".join(rng.choices(BRAND, cum_weights=brand, k=2))
        core += rng.choices(BUSINESS, cum_weights=business)[0]
        form = rng.choices(LEGAL_FORMS, cum_weights=legal)[0]
        draw = rng.random()
        if draw < 0.25 and city in known_city:
            names.append(city + core + form)
        elif draw < 0.6:
            names.append(province + core + form)
        elif draw < 0.75:
            names.append(FULL_FORMS.get(province, province + "省") + core + form)
        elif draw < 0.9:
            names.append(f"{core}（{province}）{form}")
        else:
            names.append(core + form)
    return names


def generate(n: int, seed: int) -> Population:
    rng = random.Random(seed)
    now_ms = int(NOW.timestamp() * 1000)
    start_ms = now_ms - SPAN_DAYS * DAY_MS
    ids = [uuid7(start_ms + (i * (SPAN_DAYS - 1) * DAY_MS) // n, rng) for i in range(n)]
    organisation = bytearray(rng.random() < 0.15 for _ in range(n))
    place = array("H", rng.choices(range(len(PLACES)), cum_weights=cumulative(PLACE_WEIGHTS), k=n))
    industry_cum = cumulative(zipf(len(INDUSTRIES), 0.8))
    industry = array(
        "b",
        (
            rng.choices(range(len(INDUSTRIES)), cum_weights=industry_cum)[0]
            if organisation[i] or rng.random() >= 0.25
            else -1
            for i in range(n)
        ),
    )
    owner = array("b", (rng.randrange(STAFF) for _ in range(n)))
    stage = bytearray(rng.choices(range(len(STAGES)), cum_weights=cumulative(STAGE_WEIGHTS), k=n))
    tier_cum = cumulative(TIER_WEIGHTS)
    tier = array(
        "b",
        (
            rng.choices(range(len(TIERS)), cum_weights=tier_cum)[0] if rng.random() < 0.85 else -1
            for _ in range(n)
        ),
    )
    star_cum = cumulative(STAR_WEIGHTS)
    stars = bytearray(
        rng.choices(range(1, 6), cum_weights=star_cum)[0] if rng.random() < 0.8 else 0
        for _ in range(n)
    )
    people = iter(person_names(rng, n - sum(organisation)))
    orgs_at = [i for i in range(n) if organisation[i]]
    companies = iter(
        org_names(
            rng, [PLACES[place[i]][0] for i in orgs_at], [PLACES[place[i]][1] for i in orgs_at]
        )
    )
    names = [next(companies) if organisation[i] else next(people) for i in range(n)]
    return Population(ids, organisation, names, industry, place, owner, stage, tier, stars)


def staff_id(k: int) -> str:
    return f"staff-{k}"


def team_of(k: int) -> str:
    return f"team-{k % TEAMS}"


def kind_of(population: Population, i: int) -> str:
    return "organization" if population.organisation[i] else "individual"


def facets_of(population: Population, i: int) -> frozenset[str]:
    """The facets the registry gives customer ``i`` (see ``custrec.services._custom``)."""
    province, city = PLACES[population.place[i]]
    found = {f"province={province}", f"city={city}", "verification=unverified"}
    if population.industry[i] >= 0:
        found.add(f"industry={INDUSTRIES[population.industry[i]]}")
    if population.tier[i] >= 0:
        found.add(f"grade.value_tier={TIERS[population.tier[i]]}")
    if population.stars[i]:
        found.add(f"grade.stars={population.stars[i]}")
    return frozenset(found)


def created(population: Population, i: int) -> datetime:
    ms = int(population.ids[i][:8] + population.ids[i][9:13], 16)
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def row_of(population: Population, i: int, index_keys: frozenset[str]) -> CustomerRow:
    from custrec.storage import CustomerRow

    owner = population.owner[i]
    made = created(population, i)
    return CustomerRow(
        id=population.ids[i],
        payload=PAYLOAD,
        index_keys=index_keys,
        kind=kind_of(population, i),
        stage=STAGES[population.stage[i]],
        owner=staff_id(owner),
        team=team_of(owner),
        facets=facets_of(population, i),
        created_at=made,
        updated_at=made,
    )


def customer_of(population: Population, i: int) -> Customer:
    """Customer ``i`` as a record for ``intake_many``, with the same facets as its row."""
    from custrec.model.records import (
        Address,
        Contact,
        Customer,
        CustomerKind,
        DimensionGrade,
        LifecycleStage,
    )

    province, city = PLACES[population.place[i]]
    owner = population.owner[i]
    phone = f"{MOBILE_PREFIXES[i % len(MOBILE_PREFIXES)]}{(i * 48271 + 12345) % 10**8:08d}"
    organisation = population.organisation[i]
    grades = []
    if population.tier[i] >= 0:
        grades.append(("value_tier", TIERS[population.tier[i]]))
    if population.stars[i]:
        grades.append(("stars", str(population.stars[i])))
    return Customer(
        id=population.ids[i],
        kind=CustomerKind.ORGANIZATION if organisation else CustomerKind.INDIVIDUAL,
        name=population.names[i],
        industry=None if population.industry[i] < 0 else INDUSTRIES[population.industry[i]],
        contacts=(Contact(name="王经理" if organisation else None, phones=(phone,)),),
        addresses=(Address(province=province, city=city),),
        stage=LifecycleStage(STAGES[population.stage[i]]),
        owner=staff_id(owner),
        team=team_of(owner),
        grades=tuple(
            DimensionGrade(dimension=d, label=label, policy_id="bench", graded_at=NOW)
            for d, label in grades
        ),
    )


def plain_rows(population: Population) -> Iterator[tuple[Any, ...]]:
    """The peer's rows: (id, kind, stage, owner, team, industry, province, city, tier, stars)."""
    for i in range(len(population)):
        owner = population.owner[i]
        province, city = PLACES[population.place[i]]
        yield (
            population.ids[i],
            kind_of(population, i),
            STAGES[population.stage[i]],
            staff_id(owner),
            team_of(owner),
            None if population.industry[i] < 0 else INDUSTRIES[population.industry[i]],
            province,
            city,
            None if population.tier[i] < 0 else TIERS[population.tier[i]],
            str(population.stars[i]) if population.stars[i] else None,
        )


# --- name keys and searches ------------------------------------------------------------------


class Keys:
    """Name keys per (kind, name), computed once: :func:`custrec.matching.names.name_keys`."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str], frozenset[tuple[str, str]]] = {}

    def of(self, kind: str, name: str) -> frozenset[tuple[str, str]]:
        from custrec.matching.names import name_keys

        found = self._cache.get((kind, name))
        if found is None:
            found = self._cache[(kind, name)] = name_keys(kind, name)
        return found


@dataclass
class Searches:
    """The texts searched per kind (repeats allowed) and who holds each text's keys."""

    texts: dict[str, list[str]]
    postings: dict[str, list[int]] = field(default_factory=dict)  # text -> customer indexes

    def real(self) -> set[int]:
        return {i for held in self.postings.values() for i in held}

    def sizes(self, kind: str) -> dict[str, float]:
        sizes = [len(self.postings[text]) for text in set(self.texts[kind])]
        return {
            "texts": len(sizes),
            "min": min(sizes),
            "median": statistics.median(sizes),
            "max": max(sizes),
            "mean": statistics.fmean(sizes),
        }


def choose_searches(population: Population, keys: Keys, count: int, seed: int) -> Searches:
    """Rare person names (one holder), the most common person names, organisation cores."""
    from custrec.matching.names import query_keys

    rng = random.Random(seed)
    held: Counter[tuple[str, str]] = Counter()
    for i in range(len(population)):
        held.update(keys.of(kind_of(population, i), population.names[i]))
    people = [i for i in range(len(population)) if not population.organisation[i]]
    orgs = [i for i in range(len(population)) if population.organisation[i]]
    by_name = Counter(population.names[i] for i in people)
    common = [name for name, _ in by_name.most_common(COMMON_NAMES)]
    rare: list[str] = []
    seen: set[str] = set()
    for i in rng.sample(people, len(people)):
        name = population.names[i]
        if name not in seen and max(held[k] for k in query_keys(name)) == 1:
            rare.append(name)
            seen.add(name)
            if len(rare) == count:
                break
    cores: list[str] = []
    for i in rng.sample(orgs, min(len(orgs), count)):
        core = dict(keys.of("organization", population.names[i])).get("name_core")
        if core:
            cores.append(core)
    texts = {
        "rare person name": rare,
        "common person name": [common[j % len(common)] for j in range(count)],
        "organisation core name": cores,
    }
    searches = Searches(texts)
    wanted: dict[tuple[str, str], list[str]] = {}
    for text in {t for ts in texts.values() for t in ts}:
        searches.postings[text] = []
        for key in query_keys(text):
            wanted.setdefault(key, []).append(text)
    holders: dict[str, set[int]] = {text: set() for text in searches.postings}
    for i in range(len(population)):
        for key in keys.of(kind_of(population, i), population.names[i]):
            for text in wanted.get(key, ()):
                holders[text].add(i)
    searches.postings = {text: sorted(found) for text, found in holders.items()}
    return searches


# --- stores ----------------------------------------------------------------------------------


def commit_chunks(store: Store, rows: Iterator[CustomerRow], chunk: int) -> int:
    """Write ``rows`` through ``add_many``, one committed session per ``chunk``."""
    done = 0
    for batch in iter(lambda: list(itertools.islice(rows, chunk)), []):
        with store.transaction() as session:
            inserted = session.customers.add_many(batch)
            session.commit()
        if inserted != len(batch):
            raise SystemExit(f"{inserted} of {len(batch)} customers inserted")
        done += inserted
        if sys.stderr.isatty():
            print(f"\r  {done:,} rows", end="", file=sys.stderr, flush=True)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    return done


def build_search_store(
    store: Store,
    registry: Registry,
    keyring: KeyRing,
    population: Population,
    keys: Keys,
    real: set[int],
    chunk: int,
) -> dict[str, Any]:
    """Real customers through the registry, the others through the storage layer."""
    from custrec import Actor
    from custrec.storage.codec import EncryptingCodec

    admin = Actor(id="bench-admin", roles={"admin"})
    start = time.perf_counter()
    result = registry.customers.intake_many(
        (customer_of(population, i) for i in sorted(real)), actor=admin, batch_size=1000
    )
    intake_s = time.perf_counter() - start
    if len(result.added) != len(real):
        problems = {
            "rejected": {
                p: [i.code for i in r.issues] for p, r in list(result.rejected.items())[:3]
            },
            "duplicates": len(result.duplicates),
            "denied": len(result.denied),
        }
        raise SystemExit(f"{len(result.added)} of {len(real)} real customers taken in: {problems}")
    codec = EncryptingCodec(keyring)
    tokens: dict[tuple[str, str], str] = {}

    def token(key: tuple[str, str]) -> str:
        found = tokens.get(key)
        if found is None:
            found = tokens[key] = codec.index_key(key)
        return found

    def rows() -> Iterator[CustomerRow]:
        for i in range(len(population)):
            if i not in real:
                held = keys.of(kind_of(population, i), population.names[i])
                yield row_of(population, i, frozenset(token(k) for k in held))

    start = time.perf_counter()
    bulk = commit_chunks(store, rows(), chunk)
    bulk_s = time.perf_counter() - start
    return {
        "real_customers": len(real),
        "intake_s": intake_s,
        "intake_per_s": len(real) / intake_s if intake_s else None,
        "bulk_rows": bulk,
        "bulk_s": bulk_s,
        "bulk_per_s": bulk / bulk_s if bulk_s else None,
    }


PLAIN_COLUMNS = (
    "id TEXT PRIMARY KEY, kind TEXT NOT NULL, stage TEXT NOT NULL, owner TEXT, team TEXT, "
    "industry TEXT, province TEXT NOT NULL, city TEXT NOT NULL, value_tier TEXT, stars TEXT"
)
PLAIN_INDEXES = ("industry", "province", "city", "owner", "team", "stage", "value_tier")


def build_plain_sqlite(path: Path, population: Population) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA cache_size = -65536")
    conn.execute(f"CREATE TABLE customers ({PLAIN_COLUMNS})")
    conn.execute("BEGIN")
    conn.executemany(
        f"INSERT INTO customers VALUES ({', '.join('?' * 10)})", plain_rows(population)
    )
    for column in PLAIN_INDEXES:
        conn.execute(f"CREATE INDEX customers_{column} ON customers ({column})")
    conn.execute("COMMIT")
    return conn


def build_plain_postgres(dsn: str, schema: str, population: Population) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}".encode())
        conn.execute(f"CREATE TABLE {schema}.customers ({PLAIN_COLUMNS})".encode())
        with (
            conn.cursor() as cursor,
            cursor.copy(f"COPY {schema}.customers FROM STDIN".encode()) as copy,
        ):
            for row in plain_rows(population):
                copy.write_row(row)
        for column in PLAIN_INDEXES:
            conn.execute(f"CREATE INDEX ON {schema}.customers ({column})".encode())
        conn.execute(f"VACUUM ANALYZE {schema}.customers".encode())


def vacuum_analyze_schema(dsn: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)
        ).fetchall()
        for (table,) in tables:
            conn.execute(f'VACUUM ANALYZE "{schema}"."{table}"'.encode())


def drop_schemas(dsn: str, schemas: Sequence[str]) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        for schema in schemas:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())


def postgres_version(dsn: str) -> str | None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        settings = {
            name: conn.execute(f"SHOW {name}".encode()).fetchone()
            for name in ("fsync", "synchronous_commit", "shared_buffers", "work_mem")
        }
    described = ", ".join(f"{k}={v[0]}" for k, v in settings.items() if v)
    return f"{row[0]} ({described})" if row else None


# --- grouped counts --------------------------------------------------------------------------

PLAIN_COLUMN_OF = {"industry": "industry", "grade.value_tier": "value_tier", "city": "city"}
PLAIN_COLUMN_OF |= {"province": "province", "owner": "owner", "stage": "stage"}

Groups = dict[tuple[str | None, ...], int]


@dataclass(frozen=True)
class GroupQuery:
    """One grouped count: ``by``, optionally within a province and a reach."""

    label: str
    by: tuple[str, ...]
    province: str | None = None
    owner: str | None = None
    team: str | None = None

    def where(self) -> CustomerFilter | None:
        from custrec.storage import CustomerFilter, FacetCondition, Reach

        if self.province is None and self.owner is None and self.team is None:
            return None
        facets = ()
        if self.province is not None:
            facets = (FacetCondition(any_of={f"province={self.province}"}),)
        reach = None
        if self.owner is not None or self.team is not None:
            reach = Reach(owner=self.owner, team=self.team)
        return CustomerFilter(facets=facets, reach=reach)

    def sql(self, mark: str) -> tuple[str, list[str]]:
        """The peer's statement (``mark``: the driver's placeholder) and its parameters."""
        columns = ", ".join(PLAIN_COLUMN_OF[name] for name in self.by)
        tests: list[str] = []
        params: list[str] = []
        if self.province is not None:
            tests.append(f"province = {mark}")
            params.append(self.province)
        reach = [(c, v) for c, v in (("owner", self.owner), ("team", self.team)) if v is not None]
        if reach:
            tests.append("(" + " OR ".join(f"{c} = {mark}" for c, _ in reach) + ")")
            params.extend(v for _, v in reach)
        where = f" WHERE {' AND '.join(tests)}" if tests else ""
        return f"SELECT {columns}, count(*) FROM customers{where} GROUP BY {columns}", params


QUERIES = (
    GroupQuery("industry", ("industry",)),
    GroupQuery("industry x grade.value_tier", ("industry", "grade.value_tier")),
    GroupQuery("province x owner", ("province", "owner")),
    GroupQuery("city", ("city",)),
    GroupQuery("stage (column)", ("stage",)),
    GroupQuery("industry | province=广东, team reach", ("industry",), "广东", team=team_of(3)),
    GroupQuery("stage | province=广东, owner reach", ("stage",), "广东", owner=staff_id(13)),
)


def library_counts(store: Store, query: GroupQuery) -> Groups:
    with store.transaction(readonly=True) as session:
        return dict(session.customers.group_count(query.by, where=query.where()))


def as_groups(rows: Sequence[Sequence[Any]]) -> Groups:
    return {tuple(row[:-1]): int(row[-1]) for row in rows}


def timed(call: Callable[[], Groups]) -> tuple[float, Groups]:
    start = time.perf_counter()
    got = call()
    return time.perf_counter() - start, got


def service_counts(registry: Registry, query: GroupQuery) -> Groups:
    """``registry.reports.counts`` of ``query``, by the actor whose reach it names."""
    from custrec import Actor

    if query.owner is not None:
        k = int(query.owner.removeprefix("staff-"))
        actor = Actor(id=query.owner, roles={"staff"}, team=team_of(k))
    elif query.team is not None:
        actor = Actor(id=f"manager-{query.team}", roles={"manager"}, team=query.team)
    else:
        actor = Actor(id="bench-admin", roles={"admin"})
    facets: dict[str, Any] = {} if query.province is None else {"province": query.province}
    counted = registry.reports.counts(query.by, actor=actor, **facets)
    return {
        tuple(str(v) if v is not None else None for v in values): n for values, n in counted.rows
    }


def measure_groups(
    store: Store,
    registry: Registry | None,
    peer: Callable[[GroupQuery], Groups],
    repeat: int,
    peer_name: str,
) -> dict[str, Any]:
    """Each query: once untimed (the results must agree), then ``repeat`` alternating runs
    of ``group_count``, the peer and, when the registry has it, ``registry.reports.counts``."""
    service = registry is not None and hasattr(registry, "reports")
    results: dict[str, Any] = {}
    for query in QUERIES:
        mine = library_counts(store, query)
        theirs = peer(query)
        if mine != theirs:
            differ = sorted(set(mine.items()) ^ set(theirs.items()), key=str)[:6]
            raise SystemExit(f"{query.label}: group_count and {peer_name} differ: {differ}")
        if service:
            assert registry is not None
            reported = service_counts(registry, query)
            if reported != mine:
                differ = sorted(set(mine.items()) ^ set(reported.items()), key=str)[:6]
                raise SystemExit(f"{query.label}: reports.counts and group_count differ: {differ}")
        library_s: list[float] = []
        peer_s: list[float] = []
        service_s: list[float] = []
        for _ in range(repeat):
            library_s.append(timed(lambda q=query: library_counts(store, q))[0])
            peer_s.append(timed(lambda q=query: peer(q))[0])
            if service:
                assert registry is not None
                service_s.append(timed(lambda q=query: service_counts(registry, q))[0])
        median, peer_median = statistics.median(library_s), statistics.median(peer_s)
        results[query.label] = {
            "by": list(query.by),
            "where": repr(query.where()),
            "groups": len(mine),
            "rows_counted": sum(mine.values()),
            "library_s": library_s,
            "peer_s": peer_s,
            "service_s": service_s,
            "median_s": median,
            "peer_median_s": peer_median,
            "service_median_s": statistics.median(service_s) if service_s else None,
            "ratio": median / peer_median if peer_median else None,
            "goal_met": median < GOAL_S,
        }
        if sys.stderr.isatty():
            print(f"  {query.label}: {median:.3f} s (peer {peer_median:.3f} s)", file=sys.stderr)
    return results


def sqlite_peer(conn: sqlite3.Connection) -> Callable[[GroupQuery], Groups]:
    def run(query: GroupQuery) -> Groups:
        sql, params = query.sql("?")
        return as_groups(conn.execute(sql, params).fetchall())

    return run


class _Recorder:
    """Stands in for a session's sqlite3 connection and records the statements run."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._real = conn
        self.statements: list[tuple[str, tuple[Any, ...]]] = []

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        self.statements.append((sql, tuple(params)))
        return self._real.execute(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def sqlite_plans(store: Store, conn: sqlite3.Connection) -> dict[str, Any]:
    """``EXPLAIN QUERY PLAN`` of each grouped count: ``group_count`` as measured, as
    ``registry.reports.counts`` asks it (the shown states added to the filter), the peer's."""
    import attrs

    from custrec.storage import CustomerFilter

    shown = frozenset({"live", "archived", "restricted"})
    plans: dict[str, Any] = {}
    for query in QUERIES:
        where = query.where() or CustomerFilter()
        asked = {
            "group_count": query.where(),
            "as reports.counts": attrs.evolve(where, states=shown),
        }
        entry: dict[str, Any] = {}
        for name, condition in asked.items():
            with store.transaction(readonly=True) as session:
                real = getattr(session, "_conn", None)
                if not isinstance(real, sqlite3.Connection):
                    return {"unavailable": "the session's connection is not reachable"}
                recorder = _Recorder(real)
                session._conn = recorder  # type: ignore[attr-defined]
                try:
                    session.customers.group_count(query.by, where=condition)
                finally:
                    session._conn = real  # type: ignore[attr-defined]
                entry[name] = [
                    {
                        "sql": sql,
                        "plan": [r[3] for r in real.execute(f"EXPLAIN QUERY PLAN {sql}", ps)],
                    }
                    for sql, ps in recorder.statements
                ]
        sql, params = query.sql("?")
        entry["peer"] = [
            {"sql": sql, "plan": [r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]}
        ]
        plans[query.label] = entry
    return plans


# --- name search -----------------------------------------------------------------------------


def measure_searches(
    registry: Registry,
    keyring: KeyRing,
    store: Store,
    searches: Searches,
    count: int,
    seed: int,
) -> dict[str, Any]:
    from custrec import Actor
    from custrec.matching.names import query_keys
    from custrec.storage.codec import EncryptingCodec

    codec = EncryptingCodec(keyring)
    admin = Actor(id="bench-admin", roles={"admin", "unmask"})
    rng = random.Random(seed)

    def staff_actor() -> Actor:
        k = rng.randrange(STAFF)
        return Actor(id=staff_id(k), roles={"staff", "unmask"}, team=team_of(k))

    def by_registry(text: str, actor: Callable[[], Actor]) -> int:
        return len(registry.customers.search(text, actor=actor()))

    def by_storage(text: str) -> int:
        tokens = sorted({t for key in query_keys(text) for t in codec.lookup_keys(key)})
        with store.transaction(readonly=True) as session:
            posted = session.customers.lookup_many(tokens)
            ids = sorted({i for found in posted.values() for i in found})
            return len(session.customers.get_many(ids[:PAGE]))

    kinds: list[tuple[str, str, str, Callable[[str], int]]] = [
        (name, name, "registry", lambda t: by_registry(t, lambda: admin)) for name in searches.texts
    ]
    kinds.append(
        (
            "common person name, staff",
            "common person name",
            "registry",
            lambda t: by_registry(t, staff_actor),
        )
    )
    kinds += [(f"{name} (storage alone)", name, "storage", by_storage) for name in searches.texts]
    results: dict[str, Any] = {}
    for label, texts_of, layer, call in kinds:
        texts = searches.texts[texts_of][:count]
        if not texts:
            continue
        for text in texts[:WARMUP]:
            call(text)
        times: list[float] = []
        found: list[int] = []
        for text in texts:
            start = time.perf_counter()
            got = call(text)
            times.append((time.perf_counter() - start) * 1000)
            found.append(got)
        results[label] = {
            "layer": layer,
            "texts": texts_of,
            "searches": len(times),
            "p50_ms": percentile(times, 0.50),
            "p99_ms": percentile(times, 0.99),
            "max_ms": max(times),
            "mean_ms": statistics.fmean(times),
            "mean_found": statistics.fmean(found),
            "posting": searches.sizes(texts_of),
        }
        if sys.stderr.isatty():
            print(f"  {label}: p99 {results[label]['p99_ms']:.1f} ms", file=sys.stderr)
    return results


# --- runs ------------------------------------------------------------------------------------


def file_size(path: Path) -> int:
    return sum(
        Path(f"{path}{suffix}").stat().st_size
        for suffix in ("", "-wal")
        if Path(f"{path}{suffix}").exists()
    )


def run_search_store(
    backend: str,
    args: argparse.Namespace,
    population: Population,
    keys: Keys,
    searches: Searches,
    work: Path,
) -> dict[str, Any]:
    """SQLite (or memory): build, grouped counts beside plain SQLite, then name searches."""
    from custrec import KeyRing, Registry
    from custrec.backends import MemoryStore, SQLiteStore
    from custrec.backends.sqlite import key_file_for
    from custrec.security import generate_key_file

    path = (args.sqlite_path or work / "search.sqlite").resolve()
    key_file = Path(f"{path}.keyring.json")
    reuse = backend == "sqlite" and args.reuse and path.exists() and key_file.exists()
    if backend == "sqlite" and not reuse:
        for name in (path, key_file, Path(key_file_for(path))):
            for suffix in ("", "-wal", "-shm", "-writers.lock"):
                Path(f"{name}{suffix}").unlink(missing_ok=True)
        generate_key_file(key_file)
    store: Store = MemoryStore() if backend == "memory" else SQLiteStore(path)
    keyring = KeyRing.from_file(key_file) if backend == "sqlite" else KeyRing.generate()
    output: dict[str, Any] = {}
    try:
        registry = Registry(store, keyring=keyring, clock=lambda: NOW)
        if reuse:
            print(f"[{backend}] reusing {path} (no build)", file=sys.stderr)
            output["build"] = None
        else:
            print(f"[{backend}] building {len(population):,} customers ...", file=sys.stderr)
            output["build"] = build_search_store(
                store, registry, keyring, population, keys, searches.real(), args.chunk
            )
        plain_path = work / "plain.sqlite"
        start = time.perf_counter()
        conn = build_plain_sqlite(plain_path, population)
        output["plain_build_s"] = time.perf_counter() - start
        try:
            print(f"[{backend}] grouped counts ...", file=sys.stderr)
            output["groups"] = measure_groups(
                store, registry, sqlite_peer(conn), args.repeat, "plain SQLite"
            )
            if backend == "sqlite":
                output["query_plans"] = sqlite_plans(store, conn)
        finally:
            conn.close()
        output["plain_file_bytes"] = file_size(plain_path)
        print(f"[{backend}] name search ...", file=sys.stderr)
        output["search"] = measure_searches(
            registry, keyring, store, searches, args.searches, args.seed
        )
    finally:
        store.close()
    if backend == "sqlite":
        output["file_bytes"] = file_size(path)
        output["key_store_bytes"] = file_size(Path(key_file_for(path)))
    return output


def run_postgres(args: argparse.Namespace, population: Population) -> dict[str, Any]:
    """PostgreSQL: every customer through ``add_many``, grouped counts beside plain SQL."""
    import psycopg

    from custrec import KeyRing, Registry
    from custrec.backends import PostgresStore

    tag = secrets.token_hex(4)
    schema, plain = f"bench_search_{tag}", f"bench_search_plain_{tag}"
    output: dict[str, Any] = {"server": postgres_version(args.dsn)}
    try:
        store = PostgresStore(args.dsn, schema=schema, min_size=1, max_size=2)
        try:
            print(f"[postgres] building {len(population):,} customers ...", file=sys.stderr)
            start = time.perf_counter()
            rows = (row_of(population, i, frozenset()) for i in range(len(population)))
            commit_chunks(store, rows, args.chunk)
            output["build_s"] = time.perf_counter() - start
            start = time.perf_counter()
            vacuum_analyze_schema(args.dsn, schema)
            output["vacuum_analyze_s"] = time.perf_counter() - start
            start = time.perf_counter()
            build_plain_postgres(args.dsn, plain, population)
            output["plain_build_s"] = time.perf_counter() - start
            registry = Registry(store, keyring=KeyRing.generate(), clock=lambda: NOW)
            with psycopg.connect(args.dsn, autocommit=True) as conn:
                conn.execute(f"SET search_path TO {plain}".encode())

                def peer(query: GroupQuery) -> Groups:
                    sql, params = query.sql("%s")
                    return as_groups(conn.execute(sql.encode(), params).fetchall())

                print("[postgres] grouped counts ...", file=sys.stderr)
                output["groups"] = measure_groups(
                    store, registry, peer, args.repeat, "plain PostgreSQL"
                )
                sizes = conn.execute(
                    "SELECT sum(pg_total_relation_size(c.oid)) FILTER (WHERE n.nspname = %s),"
                    " sum(pg_total_relation_size(c.oid)) FILTER (WHERE n.nspname = %s)"
                    " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE c.relkind = 'r'",
                    (schema, plain),
                ).fetchone()
                assert sizes is not None
                output["schema_bytes"], output["plain_bytes"] = (int(s or 0) for s in sizes)
        finally:
            store.close()
    finally:
        if not args.keep:
            drop_schemas(args.dsn, (schema, plain))
        else:
            print(f"[postgres] kept schemas {schema} and {plain}", file=sys.stderr)
    return output


# --- report ----------------------------------------------------------------------------------


def pad(text: str, width: int) -> str:
    """``text`` left-aligned in ``width`` terminal columns (CJK characters take two)."""
    wide = sum(unicodedata.east_asian_width(c) in "WF" for c in text)
    return text + " " * max(0, width - len(text) - wide)


def print_groups(results: dict[str, dict[str, Any]], customers: int) -> None:
    backends = [b for b in results if "groups" in results[b]]
    if not backends:
        return
    print(
        f"\ngrouped counts over {customers:,} customers: median seconds of group_count, "
        "registry.reports.counts (service) and the same GROUP BY in plain SQL (peer)"
    )
    header = f"{pad('query', 38)} {'groups':>6}"
    for backend in backends:
        header += f" {backend:>9} {'service':>7} {'peer':>7} {'ratio':>6}"
    header += f"  <{GOAL_S:g} s"
    print(header)
    print("-" * len(header))
    for label, first in results[backends[0]]["groups"].items():
        line = f"{pad(label, 38)} {first['groups']:>6}"
        for backend in backends:
            r = results[backend]["groups"][label]
            service = "-" if r["service_median_s"] is None else f"{r['service_median_s']:.3f}"
            line += (
                f" {r['median_s']:>9.3f} {service:>7} {r['peer_median_s']:>7.3f}"
                f" {r['ratio']:>5.1f}x"
            )
        goal = results[backends[0]]["groups"][label]["goal_met"]
        line += f"  {backends[0]}: " + ("yes" if goal else "NO")
        print(line)
    print("(ratio: group_count / peer)")


def print_search(results: dict[str, Any], customers: int) -> None:
    print(f"\nname search over {customers:,} customers (page of {PAGE}): ms")
    header = (
        f"{'kind':<44} {'n':>4} {'found':>6} {'posting min/med/max':>20} "
        f"{'p50':>7} {'p99':>7} {'max':>7}"
    )
    print(header)
    print("-" * len(header))
    for label, r in results.items():
        p = r["posting"]
        posting = f"{p['min']:,}/{p['median']:,.0f}/{p['max']:,}"
        print(
            f"{pad(label, 44)} {r['searches']:>4} {r['mean_found']:>6.1f} {posting:>20} "
            f"{r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} {r['max_ms']:>7.2f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per grouped count")
    parser.add_argument("--searches", type=int, default=200, help="timed searches per kind")
    parser.add_argument("--backends", default="sqlite,postgres", help=", ".join(BACKENDS))
    parser.add_argument("--dsn", help="PostgreSQL DSN (default: $" + " or $".join(DSN_VARIABLES))
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL schemas")
    parser.add_argument("--chunk", type=int, default=50_000, help="rows per add_many session")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--sqlite-path", type=Path, help="SQLite file to (re)create and keep")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="with --sqlite-path: measure a file an earlier run built with the same sizes and seed",
    )
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(backends) - set(BACKENDS)
    if unknown or not backends:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    if "sqlite" in backends and "memory" in backends:
        parser.error("name search runs on one store: sqlite or memory, not both")
    if min(args.customers, args.repeat, args.searches, args.chunk) < 1:
        parser.error("sizes must be positive")
    if args.customers < 1000:
        parser.error("--customers must be at least 1000")
    if args.reuse and args.sqlite_path is None:
        parser.error("--reuse needs --sqlite-path")
    if args.dsn is None:
        args.dsn = next((os.environ[v] for v in DSN_VARIABLES if os.environ.get(v)), None)

    output: dict[str, Any] = {
        "benchmark": "search",
        "machine": machine(),
        "sizes": {
            "customers": args.customers,
            "repeat": args.repeat,
            "searches": args.searches,
            "chunk": args.chunk,
            "seed": args.seed,
            "staff": STAFF,
            "teams": TEAMS,
            "places": len(PLACES),
            "provinces": len(PROVINCES),
            "industries": len(INDUSTRIES),
        },
        "settings": (
            "SQLite: WAL, synchronous=NORMAL, cache 64 MiB (SQLiteStore defaults), no ANALYZE; "
            "PostgreSQL: VACUUM ANALYZE after loading, both schemas"
        ),
        "goal_s": GOAL_S,
        "backends": {},
    }
    print(f"generating {args.customers:,} customers ...", file=sys.stderr)
    start = time.perf_counter()
    population = generate(args.customers, args.seed)
    keys = Keys()
    searches = choose_searches(population, keys, args.searches, args.seed + 1)
    output["generate_s"] = time.perf_counter() - start
    output["real_customers"] = len(searches.real())
    output["organisations"] = sum(population.organisation)
    output["common_names"] = sorted(set(searches.texts["common person name"]))
    with tempfile.TemporaryDirectory(prefix="custrec-search-") as tmp:
        work = Path(tmp)
        for backend in backends:
            if backend != "postgres":
                output["backends"][backend] = run_search_store(
                    backend, args, population, keys, searches, work
                )
            elif not args.dsn:
                note = "no DSN (--dsn, " + ", ".join(DSN_VARIABLES) + "): PostgreSQL skipped"
                print(f"note: {note}")
                output["backends"]["postgres"] = {"skipped": note}
            else:
                output["backends"]["postgres"] = run_postgres(args, population)
    m = output["machine"]
    print(
        f"\nsearch: {args.customers:,} customers ({output['organisations']:,} organisations, "
        f"{output['real_customers']:,} of them real sealed customers); "
        f"{m['cpus']} CPUs, Python {m['python']}, SQLite {m['sqlite']}"
        + (
            f", PostgreSQL {output['backends']['postgres']['server']}"
            if "server" in output["backends"].get("postgres", {})
            else ""
        )
    )
    print_groups(output["backends"], args.customers)
    for backend, result in output["backends"].items():
        if "search" in result:
            print(f"\n[{backend}]", end="")
            print_search(result["search"], args.customers)
    if args.json:
        args.json.write_text(json.dumps(output, indent=2, ensure_ascii=False, default=str))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
